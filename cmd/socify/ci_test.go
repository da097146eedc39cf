package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCIRunInstallsWhatIsMissing runs .ci/run, the README's test command, on a simulated fresh
// machine: a PATH holding only the basic tools, stand-ins for apt-get, dpkg and sudo that
// record their calls, and a stand-in .ci/test. It must install every missing package (through
// sudo when not root) and then run the suite; without apt-get it must say what is missing.
func TestCIRunInstallsWhatIsMissing(t *testing.T) {
	bash := needBash(t)
	script := readRepoFile(t, ".ci/run")
	for _, c := range []struct {
		name, uid string
		apt       bool
		want      []string // lines of the call log, in order
		fail      string
	}{
		{name: "root", uid: "0", apt: true, want: []string{
			"apt-get update -qq", "apt-get install -y -qq pigz gcc curl unzip zlib1g-dev", "suite"}},
		{name: "user", uid: "1000", apt: true, want: []string{
			"sudo apt-get update -qq", "sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pigz gcc curl unzip zlib1g-dev", "suite"}},
		{name: "no apt", uid: "0", fail: "missing pigz gcc curl unzip zlib1g-dev, and this machine has no apt-get"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			repo, bin := filepath.Join(dir, "repo"), filepath.Join(dir, "bin")
			log := filepath.Join(dir, "calls")
			for _, d := range []string{filepath.Join(repo, ".ci"), bin} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			write := func(path, body string) {
				if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			write(filepath.Join(repo, ".ci", "run"), script)
			write(filepath.Join(repo, ".ci", "test"), "echo suite >> "+log+"\n")
			// gzip and git are "installed"; everything else the tests need is not.
			for _, tool := range []string{"bash", "dirname", "gzip", "git", "env"} {
				p, err := exec.LookPath(tool)
				if err != nil {
					t.Skipf("%s not found", tool)
				}
				if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
					t.Fatal(err)
				}
			}
			record := "#!" + bash + "\necho \"$(basename \"$0\") $*\" >> " + log + "\n"
			write(filepath.Join(bin, "basename"), "#!"+bash+"\necho \"${1##*/}\"\n")
			write(filepath.Join(bin, "dpkg"), "#!"+bash+"\nexit 1\n")
			write(filepath.Join(bin, "id"), "#!"+bash+"\necho "+c.uid+"\n")
			write(filepath.Join(bin, "sudo"), "#!"+bash+"\necho \"sudo $*\" >> "+log+"\n")
			if c.apt {
				write(filepath.Join(bin, "apt-get"), record)
			}
			cmd := exec.Command(bash, filepath.Join(repo, ".ci", "run"))
			cmd.Env = []string{"PATH=" + bin, "HOME=" + dir}
			out, err := cmd.CombinedOutput()
			if c.fail != "" {
				if err == nil || !strings.Contains(string(out), c.fail) {
					t.Fatalf("want failure %q, got %v:\n%s", c.fail, err, out)
				}
				return
			}
			if err != nil {
				t.Fatalf(".ci/run: %v\n%s", err, out)
			}
			b, _ := os.ReadFile(log)
			got := strings.Split(strings.TrimSpace(string(b)), "\n")
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}
