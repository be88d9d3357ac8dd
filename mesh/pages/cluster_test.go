package pages

// The workshop on a real cluster (mesh/realcluster): a kubelet runs the kit's own images from
// localhost:32000, istiod injects real sidecars, and every page's ```sh blocks run for real, in
// page order, as typed, in bash: a refused or failing command fails the run with its page, its
// line and what the cluster said. What a page says you should see is held against what the
// commands printed (clusterExpectations). A command that cannot run here is listed with why.
//
// It runs only when ALEPHBETH_CLUSTER is set (scripts/test cluster; `just cluster`): it needs
// root, Docker, the project's images in the registry on localhost:32000 (scripts/test images
// pushes them), containerd, runc, the CNI plugins and iptables.

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"alephbeth/mesh/realcluster"
	"mvdan.cc/sh/v3/syntax"
)

// clusterPages are the pages run for real, in order. Page 9 needs Flagger or Argo Rollouts,
// whose images cannot be had here; ambient mode needs ztunnel, Istio's own Rust build.
var clusterPages = []string{"01-deploy.md", "02-observe.md", "03-kill-replace.md", "04-dark-launch.md",
	"05-mirror.md", "06-canary.md", "07-resilience.md", "08-wrap-up.md"}

// notRun says why a statement of a page cannot run here, or "".
func notRun(stmt string) string {
	words := strings.Fields(stmt)
	switch {
	case strings.Contains(stmt, "docker build") || strings.Contains(stmt, "docker push") ||
		strings.HasPrefix(stmt, "docker compose") || strings.HasPrefix(stmt, "export REGISTRY="):
		return "builds or pushes images: the images step (scripts/check-images, scripts/build-stages) built and pushed every stage's"
	case strings.HasPrefix(stmt, "istioctl dashboard"):
		return "opens an add-on's dashboard: the add-ons' images (Grafana, Jaeger, Kiali, Prometheus) cannot be pulled here"
	case strings.Contains(stmt, "http://127.0.0.1:8082"):
		return "asks beth run by scripts/run-local on this machine, not the cluster"
	case len(words) >= 3 && words[0] == "kubectl" && (words[1] == "create" || words[1] == "label") && words[2] == "namespace",
		strings.HasPrefix(stmt, "kubectl config set-context"):
		return "prepares staging on a machine setup-cluster did not prepare: the harness ran setup-cluster's namespace step"
	}
	return ""
}

// watches follow forever (kubectl logs -f, get -w): they run for a while, then stop, as a
// learner's Ctrl-C does.
func isWatch(stmt string) bool {
	words := strings.Fields(stmt)
	if len(words) < 3 || words[0] != "kubectl" || (words[1] != "logs" && words[1] != "get") {
		return false
	}
	for _, w := range words[2:] {
		if w == "-f" || w == "-w" || w == "--follow" || w == "--watch" {
			return true
		}
	}
	return false
}

// way is which mesh API a block belongs to: "gateway-api" if the paragraph before it starts
// "The Gateway API way" or it names istio/gateway-api/, "istio" if it names istio/'s own files,
// "" if either.
func way(p *Page, b *Block) string {
	text := b.Text()
	// The first line of the paragraph just before the block (blank lines and other blocks'
	// lines are not prose, so the walk stops at the paragraph's start).
	var before string
	inParagraph := false
	for i := len(p.Prose) - 1; i >= 0; i-- {
		l := p.Prose[i]
		if l.N >= b.Line {
			continue
		}
		blank := strings.TrimSpace(l.Text) == ""
		if blank && inParagraph {
			break
		}
		if !blank {
			inParagraph, before = true, l.Text
		}
	}
	switch {
	case strings.HasPrefix(strings.TrimLeft(before, "*"), "The Gateway API way"), strings.Contains(text, "istio/gateway-api/"):
		return "gateway-api"
	case regexp.MustCompile(`istio/[a-z0-9-]+\.yaml`).MatchString(text):
		return "istio"
	}
	return ""
}

// statement is one top-level statement of a block, with its line on the page.
type statement struct {
	line int
	text string
}

func statements(b *Block) ([]statement, error) {
	src := b.Text()
	file, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(src), "")
	if err != nil {
		return nil, err
	}
	var out []statement
	for _, s := range file.Stmts {
		out = append(out, statement{b.Line + int(s.Pos().Line()), src[s.Pos().Offset():s.End().Offset()]})
	}
	return out, nil
}

// pageRun runs pages for real and keeps what happened.
type pageRun struct {
	t        *testing.T
	c        *realcluster.Cluster
	way      string
	env      string // the shell's exported variables between blocks (FRONT ...)
	skipped  map[string][]string
	reasons  []string
	ran      int
	failures int
	checked  int
	memory   map[string]realcluster.ContainerMemory // the highest peak seen, by namespace, Deployment and container
	seen     map[string]int                         // how many times an expectation's statement ran, by page and text (one way per run)
}

const stmtMark = "@@statement "

// readingTime is how long a learner takes between two blocks, at the least.
const readingTime = 2 * time.Second

// runBlock runs a block's statements in one bash (a block's `&` and `kill %1` belong together),
// each preceded by a mark, and returns each statement's output by its line. It stops at the
// first statement that fails, as a learner would.
func (r *pageRun) runBlock(p *Page, b *Block) map[int]string {
	stmts, err := statements(b)
	if err != nil {
		r.t.Errorf("%s:%d: cannot read this block: %v", p.Name, b.Line, err)
		return nil
	}
	var script strings.Builder
	// The block's variables (FRONT ...) kept for the next blocks, also when it fails.
	fmt.Fprintf(&script, "set -e\n[ -f %q ] && . %q\ntrap 'export -p > %q' EXIT\n", r.env, r.env, r.env)
	for _, s := range stmts {
		fmt.Fprintf(&script, "printf '\\n%s%d\\n'\n", stmtMark, s.line)
		if why := notRun(s.text); why != "" {
			r.skip(p, s, why)
			continue
		}
		text := s.text
		if isWatch(text) {
			text = "timeout 20 " + text + " || [ $? -eq 124 ]"
			r.skip(p, s, "follows or watches until interrupted: run for 20 s, then stopped")
		}
		script.WriteString(text + "\n")
	}
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Dir, cmd.Env = r.c.Root, r.c.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(10 * time.Minute):
		err = fmt.Errorf("still running after 10 minutes")
	}
	// What the block left in the background (a port-forward the page did not stop).
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	outputs := map[int]string{}
	last := 0
	for _, chunk := range strings.Split(out.String(), "\n"+stmtMark)[1:] {
		num, rest, _ := strings.Cut(chunk, "\n")
		fmt.Sscan(num, &last)
		outputs[last] = rest
	}
	if err != nil {
		r.failures++
		var before strings.Builder
		for _, s := range stmts {
			if s.line < last {
				fmt.Fprintf(&before, "$ %s\n%s", s.text, outputs[s.line])
			}
		}
		r.t.Errorf("%s:%d: %s\n    failed (%v); it printed:\n%s\n    after the block's statements before it:\n%s\n    the cluster then:\n%s",
			p.Name, last, lineText(stmts, last), err, indent(outputs[last]), indent(before.String()), indent(r.diagnose()))
		return nil
	}
	r.ran += len(stmts)
	return outputs
}

// diagnose is what the cluster looks like after a failure: the pods, the last events, and what
// front's page answers.
func (r *pageRun) diagnose() string {
	pods, _ := r.c.Kubectl(nil, "get", "pods", "-n", "staging", "-o", "wide")
	events, _ := r.c.Kubectl(nil, "get", "events", "-n", "staging", "--sort-by=.lastTimestamp")
	page, _ := r.c.Shell(fmt.Sprintf(". %q; curl -sS -i -m 20 \"$FRONT/\" | head -c 600", r.env), time.Minute)
	return pods + tailLines(events, 15) + "\n$ curl -i $FRONT/\n" + page
}

func lineText(stmts []statement, line int) string {
	for _, s := range stmts {
		if s.line == line {
			return s.text
		}
	}
	return ""
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if len(s) > 4000 {
		s = "…" + s[len(s)-4000:]
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ")
}

func (r *pageRun) skip(p *Page, s statement, why string) {
	if _, ok := r.skipped[why]; !ok {
		r.reasons = append(r.reasons, why)
	}
	r.skipped[why] = append(r.skipped[why], fmt.Sprintf("%s:%d: %s", p.Name, s.line, s.text))
}

// settle waits, as a learner does before reading the pods, for every Deployment in staging to
// finish rolling out.
func (r *pageRun) settle(p *Page) {
	out, err := r.c.Kubectl(nil, "get", "deploy", "-n", "staging", "-o", "name")
	if err != nil {
		r.t.Errorf("%s: %v", p.Name, err)
		return
	}
	for _, d := range strings.Fields(out) {
		if _, err := r.c.Kubectl(nil, "rollout", "status", d, "-n", "staging", "--timeout=3m"); err != nil {
			pods, _ := r.c.Kubectl(nil, "get", "pods", "-n", "staging", "-o", "wide")
			events, _ := r.c.Kubectl(nil, "get", "events", "-n", "staging", "--sort-by=.lastTimestamp")
			r.t.Errorf("%s: after the page, %s never became ready: %v\n%s\n%s", p.Name, d, err, indent(pods), indent(tailLines(events, 25)))
		}
	}
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (r *pageRun) runPage(p *Page) {
	start, ran := time.Now(), r.ran
	for _, b := range p.Blocks {
		if b.Kind != "plain" {
			continue
		}
		if w := way(p, b); w != "" && w != r.way {
			continue
		}
		// A learner reads the page between two blocks: a second or two, in which the cluster
		// moves on (kube-proxy has a new pod's endpoint a second after it is Ready).
		time.Sleep(readingTime)
		outputs := r.runBlock(p, b)
		stmts, _ := statements(b)
		for _, s := range stmts {
			out, ok := outputs[s.line]
			if !ok {
				continue
			}
			// This statement's occurrence, for each expectation's text it holds.
			counted := map[string]bool{}
			for _, e := range clusterExpectations {
				key := fmt.Sprintf("%s|%s", e.Page, e.Stmt)
				if e.Page == filepath.Base(p.Name) && strings.Contains(s.text, e.Stmt) && !counted[key] {
					counted[key] = true
					r.seen[key]++
				}
			}
			for _, e := range clusterExpectations {
				key := fmt.Sprintf("%s|%s", e.Page, e.Stmt)
				if !counted[key] || (e.Way != "" && e.Way != r.way) || (e.Nth != 0 && e.Nth != r.seen[key]) {
					continue
				}
				r.checked++
				err := e.Check(r, out)
				if err != nil && e.Again {
					r.t.Logf("%s:%d: %s\n    %v: again, as the page says", p.Name, s.line, s.text, err)
					time.Sleep(3 * time.Second)
					out, _ = r.c.Shell(fmt.Sprintf(". %q; %s", r.env, s.text), 5*time.Minute)
					err = e.Check(r, out)
				}
				if err != nil {
					r.failures++
					r.t.Errorf("%s:%d: %s\n    the page says %s; %v", p.Name, s.line, s.text, e.Says, err)
				}
			}
		}
	}
	r.settle(p)
	r.readMemory()
	r.t.Logf("%s (%s): %d statements run in %s", p.Name, r.way, r.ran-ran, time.Since(start).Round(time.Second))
}

func TestCluster(t *testing.T) {
	if os.Getenv("ALEPHBETH_CLUSTER") == "" {
		t.Skip("the pages on a real cluster: scripts/test cluster (or ALEPHBETH_CLUSTER=1, as root, with the images pushed)")
	}
	c, err := realcluster.New(root).Logf(t.Logf).Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	if line, _, _ := strings.Cut(setupPin(t, "MICROK8S_CHANNEL"), "/"); !strings.HasPrefix(c.Version, "v"+line+".") {
		t.Fatalf("kube/go.mod builds Kubernetes %s, the workshop's cluster runs %s (scripts/setup-cluster MICROK8S_CHANNEL): move one", c.Version, line)
	}
	if err := c.InstallIstio(); err != nil {
		t.Fatal(err)
	}
	pages, err := ReadPages(root)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*Page{}
	for _, p := range pages {
		byName[filepath.Base(p.Name)] = p
	}
	r := &pageRun{t: t, c: c, way: "istio", env: filepath.Join(t.TempDir(), "env"), skipped: map[string][]string{}, seen: map[string]int{},
		memory: map[string]realcluster.ContainerMemory{}}
	for _, name := range clusterPages {
		// ALEPHBETH_CLUSTER_PAGES=01-deploy.md,... runs those pages only (a page by hand).
		if only := os.Getenv("ALEPHBETH_CLUSTER_PAGES"); only != "" && !strings.Contains(","+only+",", ","+name+",") {
			continue
		}
		r.runPage(byName[name])
		if r.failures > 0 {
			break // the next pages start from where this one should have left the cluster
		}
	}
	var report strings.Builder
	for _, why := range r.reasons {
		fmt.Fprintf(&report, "\nnot run as typed: %s\n", why)
		for _, s := range r.skipped[why] {
			fmt.Fprintf(&report, "    %s\n", s)
		}
	}
	t.Logf("%d statements run for real, %d outputs held to what the pages say; the others:%s", r.ran, r.checked, report.String())
	r.reportMemory()
	c.Stop()
	if left := c.Leftovers(); len(left) > 0 {
		t.Errorf("the cluster left behind:\n    %s", strings.Join(left, "\n    "))
	}
}

// replicaSetHash ends a ReplicaSet's name: its Deployment's name without it.
var replicaSetHash = regexp.MustCompile(`-[a-z0-9]{8,10}$`)

// readMemory keeps each container's highest peak so far (a pod replaced takes its peak with it:
// read after every page).
func (r *pageRun) readMemory() {
	for _, ns := range []string{"staging", "istio-system", "kube-system"} {
		all, err := r.c.Memory(ns)
		if err != nil {
			r.t.Errorf("reading the pods' memory: %v", err)
			return
		}
		for _, m := range all {
			m.Owner = replicaSetHash.ReplaceAllString(m.Owner, "")
			key := m.Namespace + "/" + m.Owner + "/" + m.Container
			if old, ok := r.memory[key]; !ok || m.PeakBytes > old.PeakBytes || m.Restarts > 0 {
				r.memory[key] = m
			}
		}
	}
}

// reportMemory prints every container's peak beside its limit, and fails on a restart or an
// out-of-memory kill: what the manifests' limits must hold under the pages' traffic.
func (r *pageRun) reportMemory() {
	var keys []string
	for k := range r.memory {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var table strings.Builder
	var sum int64
	for _, k := range keys {
		m := r.memory[k]
		limit := "none"
		if m.LimitBytes > 0 {
			limit = fmt.Sprintf("%.0f MiB", float64(m.LimitBytes)/(1<<20))
		}
		peak := "  (ended, not read)"
		if m.PeakBytes >= 0 {
			peak = fmt.Sprintf("%6.1f MiB", float64(m.PeakBytes)/(1<<20))
			sum += m.PeakBytes
		}
		fmt.Fprintf(&table, "\n    %-52s peak %s  limit %-8s restarts %d %s", k, peak, limit, m.Restarts, m.LastReason)
		if m.Restarts > 0 || m.LastReason == "OOMKilled" {
			r.t.Errorf("%s restarted %d times (last: %s) under the pages' traffic", k, m.Restarts, m.LastReason)
		}
	}
	r.t.Logf("the pods' memory, the highest peak of each container over the pages (its cgroup's high-water mark); sum %.0f MiB:%s",
		float64(sum)/(1<<20), table.String())
}
