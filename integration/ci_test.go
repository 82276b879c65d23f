package integration

import (
	"bufio"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// actionlint is the GitHub Actions workflow checker the project's workflows
// must pass, pinned to the version served by the module proxy.
const actionlint = "github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"

// workflows returns every GitHub Actions workflow the repository ships: the
// YAML files under .github/workflows/, and those under examples/ with
// top-level "on:" and "jobs:" keys.
func workflows(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{".github", "examples"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) {
					return filepath.SkipDir
				}
				return err
			}
			if ext := filepath.Ext(p); d.IsDir() || (ext != ".yml" && ext != ".yaml") {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			if strings.HasPrefix(rel, filepath.Join(".github", "workflows")+string(filepath.Separator)) || isWorkflow(t, p) {
				out = append(out, rel)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// isWorkflow reports whether the YAML file has top-level "on:" and "jobs:"
// keys.
func isWorkflow(t *testing.T, path string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	on, jobs := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		on = on || strings.HasPrefix(l, "on:") || strings.HasPrefix(l, `"on":`)
		jobs = jobs || strings.HasPrefix(l, "jobs:")
	}
	return on && jobs
}

// TestWorkflowsPassActionlint runs actionlint over every workflow the
// project ships (examples/ci/perfagent.yml is the one users copy), so a
// workflow that is not valid YAML, uses an unknown key or a bad expression
// fails the build.
func TestWorkflowsPassActionlint(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files := workflows(t, root)
	if len(files) == 0 {
		t.Fatal("no workflow found under examples/ or .github/ (examples/ci/perfagent.yml should be one)")
	}
	// Note: shellcheck and pyflakes are switched off so the verdict does
	// not depend on what else is installed on the machine.
	args := append([]string{"run", actionlint, "-no-color", "-shellcheck=", "-pyflakes="}, files...)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("actionlint %s: %v\n%s", strings.Join(files, " "), err, out)
	}
	t.Logf("actionlint passed: %s", strings.Join(files, ", "))
}
