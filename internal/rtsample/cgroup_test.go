package rtsample

import (
	"os"
	"path/filepath"
	"testing"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestCgroupMemoryMax(t *testing.T) {
	const v2mount = "40 30 0:37 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n"
	cases := []struct {
		name  string
		files map[string]string
		want  uint64
		ok    bool
	}{
		{"v2 own group", map[string]string{
			"proc/self/cgroup":                          "0::/app.slice/svc\n",
			"proc/self/mountinfo":                       v2mount,
			"sys/fs/cgroup/app.slice/svc/memory.max":    "536870912\n",
			"sys/fs/cgroup/app.slice/memory.max":        "max\n",
			"sys/fs/cgroup/memory.max":                  "max\n",
			"sys/fs/cgroup/app.slice/svc/memory.events": "",
		}, 512 << 20, true},
		{"v2 parent is tighter", map[string]string{
			"proc/self/cgroup":                       "0::/app.slice/svc\n",
			"proc/self/mountinfo":                    v2mount,
			"sys/fs/cgroup/app.slice/svc/memory.max": "max\n",
			"sys/fs/cgroup/app.slice/memory.max":     "268435456\n",
		}, 256 << 20, true},
		{"v2 unlimited", map[string]string{
			"proc/self/cgroup":         "0::/\n",
			"proc/self/mountinfo":      v2mount,
			"sys/fs/cgroup/memory.max": "max\n",
		}, 0, false},
		{"v2 in a cgroup namespace", map[string]string{
			"proc/self/cgroup":         "0::/\n",
			"proc/self/mountinfo":      "40 30 0:37 /kubepods/pod1 /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
			"sys/fs/cgroup/memory.max": "1073741824\n",
		}, 1 << 30, true},
		{"v1 memory controller (hybrid)", map[string]string{
			"proc/self/cgroup": "4:memory:/docker/abc\n0::/\n",
			"proc/self/mountinfo": "34 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n" +
				"40 30 0:37 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
			"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "104857600\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes":            "9223372036854771712\n",
		}, 100 << 20, true},
		{"v1 unlimited", map[string]string{
			"proc/self/cgroup":                           "4:memory:/\n",
			"proc/self/mountinfo":                        "34 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
		}, 0, false},
		{"no cgroup files", map[string]string{}, 0, false},
		{"garbage", map[string]string{
			"proc/self/cgroup":         "nonsense",
			"proc/self/mountinfo":      "also nonsense - \n",
			"sys/fs/cgroup/memory.max": "12",
		}, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := cgroupMemoryMax(writeTree(t, tc.files))
			if got != tc.want || ok != tc.ok {
				t.Errorf("got %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestCgroupMemoryMaxHere(t *testing.T) {
	// Whatever this machine has, the call must not fail or report zero.
	if v, ok := CgroupMemoryMax(); ok && v == 0 {
		t.Errorf("limit 0 reported as present")
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/a\040b\\c`); got != `/a b\\c` {
		t.Errorf("got %q", got)
	}
}
