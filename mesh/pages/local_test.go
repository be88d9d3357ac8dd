package pages

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// notLocal are the commands a ```sh local block must not run: they need a cluster, Docker, a
// build or the services.
var notLocal = set("kubectl", "istioctl", "docker", "docker-compose", "cargo", "curl", "helm", "microk8s",
	"scripts/run-local", "scripts/test", "scripts/build-stages", "just")

const localTimeout = 120 * time.Second

// gitEnv is the environment of the blocks and of git here: no pager, no system config, an
// author for commits, and none of an outer git's GIT_DIR or index.
func gitEnv(extra ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		if name, _, _ := strings.Cut(e, "="); !slices.Contains([]string{"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE",
			"GIT_OBJECT_DIRECTORY", "GIT_CONFIG", "GIT_CONFIG_GLOBAL"}, name) {
			env = append(env, e)
		}
	}
	return append(append(env, "GIT_PAGER=cat", "PAGER=cat", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=pages", "GIT_AUTHOR_EMAIL=pages@localhost",
		"GIT_COMMITTER_NAME=pages", "GIT_COMMITTER_EMAIL=pages@localhost"), extra...)
}

// git runs git in dir and returns its output, trimmed.
func git(dir string, env []string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// copyTree copies the working tree (tracked and untracked files, not the ignored ones) to dest
// and makes it a git repository of its own, whose one commit is that tree.
func copyTree(root, dest string) error {
	list, err := git(root, gitEnv(), "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	if err != nil {
		return err
	}
	for _, rel := range strings.Split(list, "\x00") {
		src, dst := filepath.Join(root, rel), filepath.Join(dest, rel)
		info, err := os.Lstat(src)
		if rel == "" || err != nil || info.IsDir() {
			continue // deleted in the working tree, or a submodule
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if info.Mode()&os.ModeSymlink != 0 {
			target, err := os.Readlink(src)
			if err == nil {
				err = os.Symlink(target, dst)
			}
			if err != nil {
				return err
			}
			continue
		}
		if err := copyFile(src, dst, info.Mode().Perm()); err != nil {
			return err
		}
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", "-A"}, {"commit", "-q", "--no-verify", "--no-gpg-sign", "-m", "base"}} {
		if _, err := git(dest, gitEnv(), args...); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// expectedTrees are the trees the stage list promises: [0] the committed one (the copy's base),
// [k] that with labs/stages.tsv's first k patches applied, in stage order, each with git apply
// straight onto the one before (an index of its own: the copy's files are not touched).
func expectedTrees(copy, tmp string, patches []string) ([]string, error) {
	env := gitEnv("GIT_INDEX_FILE=" + filepath.Join(tmp, "expected.index"))
	if _, err := git(copy, env, "read-tree", "HEAD"); err != nil {
		return nil, err
	}
	tree, err := git(copy, env, "write-tree")
	if err != nil {
		return nil, err
	}
	trees := []string{tree}
	for _, p := range patches {
		if _, err := git(copy, env, "apply", "--cached", "labs/"+p); err != nil {
			return nil, fmt.Errorf("labs/%s does not apply on the patches before it in labs/stages.tsv: %w", p, err)
		}
		if tree, err = git(copy, env, "write-tree"); err != nil {
			return nil, err
		}
		trees = append(trees, tree)
	}
	return trees, nil
}

// actualTree is the copy's working tree as a git tree, staged in an index of its own (the
// blocks' own `git diff` still sees what they changed as unstaged).
func actualTree(copy, tmp string) (string, error) {
	index := filepath.Join(tmp, "actual.index")
	data, err := os.ReadFile(filepath.Join(copy, ".git", "index"))
	if err == nil {
		err = os.WriteFile(index, data, 0o644)
	}
	if err != nil {
		return "", err
	}
	env := gitEnv("GIT_INDEX_FILE=" + index)
	if _, err := git(copy, env, "add", "-A"); err != nil {
		return "", err
	}
	return git(copy, env, "write-tree")
}

// localRule runs every ```sh local block, in page order, with bash -euo pipefail, in one
// temporary copy of the working tree. A block may not call what needs a cluster, Docker or a
// build (notLocal); a block that fails stops the later ones (they build on it). After each
// block, the copy's tree must be the committed tree with the stage list's patches applied in
// stage order up to the last one the pages applied: what a patch does is proven by
// scripts/stages check, which runs each stage; here, that the pages apply exactly those patches,
// in that order, and change nothing else.
func localRule(g *Guide) []Problem {
	var ps []Problem
	setup := func(err error) []Problem {
		return append(ps, Problem{"labs/stages.tsv", 0, "setting up the copy: " + err.Error()})
	}
	tmp, err := os.MkdirTemp("", "pages-local-")
	if err != nil {
		return setup(err)
	}
	defer os.RemoveAll(tmp)
	copy := filepath.Join(tmp, "repo")
	if err := copyTree(g.Repo.Root, copy); err != nil {
		return setup(err)
	}
	order := g.Repo.Stages.Patches()
	trees, err := expectedTrees(copy, tmp, order)
	if err != nil {
		return setup(err)
	}
	at := 0 // the stage patches applied so far; -1: not known (git apply -R, a patch not in the list)
	var broken *Block
	skipped := 0
	for _, p := range g.Pages {
		for _, b := range p.Blocks {
			if b.Kind != "local" {
				continue
			}
			if broken != nil {
				skipped++
				continue
			}
			cmds, err := b.Commands()
			if err != nil {
				ps = append(ps, err.(Problem))
				continue
			}
			refused := false
			for _, c := range cmds {
				if notLocal[c.Args[0]] || notLocal[strings.TrimLeft(c.Args[0], "./")] ||
					len(c.Args) > 1 && c.Args[0] == "docker" && c.Args[1] == "compose" {
					ps = append(ps, Problem{p.Name, c.Line, c.Args[0] + " needs a cluster, Docker or a build: fence this block ```sh, not ```sh local"})
					refused = true
				}
			}
			if refused {
				continue
			}
			if out, err := runBlock(b, copy, tmp); err != nil {
				lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
				ps = append(ps, Problem{p.Name, b.Line, fmt.Sprintf("sh local block failed (%v) in a copy of the repository%s",
					err, "\n    | "+strings.Join(lines[max(0, len(lines)-30):], "\n    | "))})
				broken = b
				continue
			}
			line := b.Line
			for _, l := range b.Lines {
				patches, reverse := applied(l.Text)
				for i, patch := range patches {
					line, at = l.N, slices.Index(order, patch)+1
					if reverse[i] || at == 0 {
						at = -1
					}
				}
			}
			if at < 0 {
				continue
			}
			tree, err := actualTree(copy, tmp)
			if err != nil {
				return setup(err)
			}
			if tree != trees[at] {
				stat, _ := git(copy, gitEnv(), "diff", "--stat", trees[at], tree)
				want := "the committed tree (no stage patch applied yet)"
				if at > 0 {
					want = fmt.Sprintf("the committed tree with labs/stages.tsv's patches up to labs/%s (%s)",
						order[at-1], strings.Join(order[:at], ", "))
				}
				ps = append(ps, Problem{p.Name, line, fmt.Sprintf("after this sh local block the tree is not %s; "+
					"what differs (git diff --stat expected actual):\n    | %s", want, strings.ReplaceAll(stat, "\n", "\n    | "))})
			}
		}
	}
	if skipped > 0 {
		ps = append(ps, Problem{broken.Page, broken.Line, fmt.Sprintf("the %d later sh local block(s) were not run (they build on this one)", skipped)})
	}
	return ps
}

// runBlock runs one block with bash -euo pipefail in the copy, no input, and returns its output.
func runBlock(b *Block, copy, tmp string) (string, error) {
	script := filepath.Join(tmp, "block.sh")
	if err := os.WriteFile(script, []byte(b.Text()), 0o644); err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), localTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", script)
	cmd.Dir, cmd.Env, cmd.WaitDelay = copy, gitEnv(), 5*time.Second
	out, err := cmd.CombinedOutput()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("timeout after %v", localTimeout)
	}
	return string(out), err
}

func TestPagesLocalBlocks(t *testing.T) {
	testRule(t, localRule, []broken{
		{"local block that fails", "grep -n 'VERSION: &str' beth/src/lib.rs", "grep -n 'VERSION: &str' beth/src/nope.rs", "sh local block failed (exit status 2)"},
		{"local block with a cluster command", "grep -n 'VERSION: &str' beth/src/lib.rs", "kubectl get pods -n staging", "kubectl needs a cluster"},
		{"local block with Compose", "grep -n 'VERSION: &str' beth/src/lib.rs", "(cd beth && docker compose build beth)", "docker needs a cluster"},
		{"local block with a build", "grep -n 'VERSION: &str' beth/src/lib.rs", "./scripts/build-stages --dry-run", "./scripts/build-stages needs a cluster"},
		{"a line the shell cannot read", "grep -n 'VERSION: &str' beth/src/lib.rs", "grep -n 'VERSION: &str beth/src/lib.rs", "cannot read this shell line"},
		{"a patch out of stage order", "git apply labs/beth-0.2.patch", "git apply labs/beth-0.3.patch", "not the committed tree with labs/stages.tsv's patches up to labs/beth-0.3.patch"},
		{"a patch twice", "git apply labs/beth-0.2.patch", "git apply labs/beth-0.2.patch\ngit apply labs/beth-0.2.patch", "patch does not apply"},
		{"an edit beside the patch", "git apply labs/beth-0.2.patch", "git apply labs/beth-0.2.patch\necho '// more' >> beth/src/lib.rs", "beth/src/lib.rs | 1 +"},
		{"later blocks not run", "```sh local\n", "```sh local\nfalse\n```\n\n```sh local\n", "the 1 later sh local block(s) were not run"},
	})
}
