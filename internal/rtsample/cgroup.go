package rtsample

import (
	"bufio"
	"bytes"
	"os"
	"path"
	"strconv"
	"strings"
)

// CgroupMemoryMax returns the memory limit the process's cgroup imposes, in
// bytes: the smallest memory.max of its cgroup v2 group and the groups above
// it, or memory.limit_in_bytes under cgroup v1. ok is false when there is no
// limit ("max", or a v1 value meaning unlimited), no cgroup file system, or
// the files cannot be read (always so outside Linux).
//
// It reads a few small files and allocates: call it when a limit is needed
// (a leak report), not on a periodic path.
func CgroupMemoryMax() (limit uint64, ok bool) {
	return cgroupMemoryMax("/")
}

// unlimitedV1 is the smallest value cgroup v1 reports for "no limit" (the
// kernel reports PAGE_COUNTER_MAX pages, rounded; anything this large is no
// limit in practice).
const unlimitedV1 = 1 << 62

// cgroupMemoryMax is CgroupMemoryMax with the file system rooted at root,
// for tests.
func cgroupMemoryMax(root string) (uint64, bool) {
	cg, err := os.ReadFile(path.Join(root, "proc/self/cgroup"))
	if err != nil {
		return 0, false
	}
	mi, err := os.ReadFile(path.Join(root, "proc/self/mountinfo"))
	if err != nil {
		return 0, false
	}
	var v2Path, v1Path string
	var haveV2, haveV1 bool
	for _, line := range strings.Split(string(cg), "\n") {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2Path, haveV2 = parts[2], true
		case hasController(parts[1], "memory"):
			v1Path, haveV1 = parts[2], true
		}
	}
	v2Mount, v2Root, v1Mount, v1Root := cgroupMounts(mi)
	if haveV1 && v1Mount != "" {
		// A v1 memory controller is mounted: it owns memory accounting
		// (on hybrid systems the v2 hierarchy has no memory controller).
		return cgroupLimit(root, v1Mount, v1Root, v1Path, "memory.limit_in_bytes")
	}
	if haveV2 && v2Mount != "" {
		return cgroupLimit(root, v2Mount, v2Root, v2Path, "memory.max")
	}
	return 0, false
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// cgroupMounts finds the cgroup2 mount and the v1 memory mount in
// /proc/self/mountinfo, with the root of the hierarchy each mount shows.
func cgroupMounts(mountinfo []byte) (v2Mount, v2Root, v1Mount, v1Root string) {
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	for sc.Scan() {
		// id parent major:minor root mount-point options [optional...] - fstype source super-options
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f := strings.Fields(pre)
		g := strings.Fields(post)
		if len(f) < 5 || len(g) < 1 {
			continue
		}
		switch g[0] {
		case "cgroup2":
			if v2Mount == "" {
				v2Mount, v2Root = unescapeMount(f[4]), unescapeMount(f[3])
			}
		case "cgroup":
			if len(g) >= 3 && hasController(g[2], "memory") && v1Mount == "" {
				v1Mount, v1Root = unescapeMount(f[4]), unescapeMount(f[3])
			}
		}
	}
	return
}

// unescapeMount undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroupLimit reads file in the process's group and every group above it
// (up to the mount's root) and returns the smallest limit.
func cgroupLimit(root, mount, mountRoot, group, file string) (uint64, bool) {
	// The group path is relative to the hierarchy's root; the mount shows
	// the hierarchy from mountRoot down (inside a container, usually the
	// container's own group).
	rel := group
	if mountRoot != "/" && mountRoot != "" {
		var ok bool
		if rel, ok = strings.CutPrefix(group, mountRoot); !ok {
			// The group is outside what the mount shows (a cgroup
			// namespace): the mount's root is the group.
			rel = "/"
		}
	}
	var limit uint64
	found := false
	for dir := path.Clean("/" + rel); ; dir = path.Dir(dir) {
		b, err := os.ReadFile(path.Join(root, mount, dir, file))
		if err == nil {
			s := strings.TrimSpace(string(b))
			if n, err := strconv.ParseUint(s, 10, 64); err == nil && n < unlimitedV1 {
				if !found || n < limit {
					limit, found = n, true
				}
			}
		}
		if dir == "/" {
			break
		}
	}
	return limit, found
}
