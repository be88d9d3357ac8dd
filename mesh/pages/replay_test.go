package pages

// The replay: every page's ```sh blocks' kubectl commands, in page order and with the page's
// own flags, run by a real kubectl against a real API server (controlplane_test.go) holding the
// cluster setup-cluster makes, as far as an API server alone can hold it. A refused command fails
// with the page, its line, the command and the server's own message; a command only a kubelet,
// a controller or the learner's shell could answer is logged as not replayed, with why.
//
// It runs only when ALEPHBETH_REPLAY is set (scripts/test replay; `just replay`): it builds
// kube-apiserver, kubectl and etcd first (about 10 minutes of CPU cold, seconds later).

import (
	"alephbeth/mesh/internal/tools"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"alephbeth/mesh"
	"mvdan.cc/sh/v3/syntax"
	"sigs.k8s.io/yaml"
)

// knownRefusals are refusals of the API server that the pages keep for now, by page:line, with
// why: printed loudly, not failed. Empty is the goal.
var knownRefusals = map[string]string{}

// replayer replays commands against one control plane, and keeps what happened.
type replayer struct {
	t           *testing.T
	cp          *controlPlane
	tmp         string              // placeholders of files a page makes itself (a key)
	setupMade   map[string]bool     // namespaces setup-cluster made
	gatewayMade map[string]string   // Services and Deployments Istio makes for a Gateway: the Gateway
	skipped     map[string][]string // reason: the commands not replayed for it
	reasons     []string            // in order of first use
	adapted     map[string][]string // how: the commands replayed with a change
	adaptations []string
	deleted     map[string]string // what a delete named (namespace, then its arguments): where
	lastRestart time.Time
	printed     string // what the block's last `get -o jsonpath` printed
	compared    int    // outputs held to what the page says
	replayed    int
	problems    []Problem
}

func newReplayer(t *testing.T, cp *controlPlane) *replayer {
	r := &replayer{t: t, cp: cp, tmp: scratch(t), setupMade: map[string]bool{}, gatewayMade: map[string]string{},
		skipped: map[string][]string{}, adapted: map[string][]string{}, deleted: map[string]string{}}
	// Istio's gateway controller (in istiod) deploys each Gateway API Gateway as a Deployment and
	// a Service <name>-<class> (a waypoint: <name>); no istiod runs here.
	files, _ := filepath.Glob(filepath.Join(root, "istio", "gateway-api", "*.yaml"))
	for _, f := range append(files, filepath.Join(root, "cluster", "waypoint.yaml")) {
		rel, _ := filepath.Rel(root, f)
		docs, err := mesh.ReadDocs(root, rel)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range docs {
			if o := (mesh.Object{Doc: d}); o.Kind() == "Gateway" && o.IsGatewayAPI() {
				spec, _ := d["spec"].(map[string]any)
				made := fmt.Sprintf("%s-%v", o.Name(), spec["gatewayClassName"])
				if spec["gatewayClassName"] == "istio-waypoint" {
					made = o.Name()
				}
				r.gatewayMade[made] = rel
			}
		}
	}
	return r
}

// shown is a command as a shell line, quoted where needed.
func shown(args []string) string {
	var out []string
	for _, a := range args {
		q, err := syntax.Quote(a, syntax.LangBash)
		if err != nil {
			q = a
		}
		out = append(out, q)
	}
	return strings.Join(out, " ")
}

func (r *replayer) adapt(c Command, how string) {
	if _, ok := r.adapted[how]; !ok {
		r.adaptations = append(r.adaptations, how)
	}
	r.adapted[how] = append(r.adapted[how], fmt.Sprintf("%s:%d: %s", c.Page, c.Line, shown(c.Args)))
}

func (r *replayer) skip(c Command, reason string) {
	if _, ok := r.skipped[reason]; !ok {
		r.reasons = append(r.reasons, reason)
	}
	r.skipped[reason] = append(r.skipped[reason], fmt.Sprintf("%s:%d: %s", c.Page, c.Line, shown(c.Args)))
}

// kubeletSubs need a running Pod, hence a kubelet: none runs here.
var kubeletSubs = map[string]string{
	"exec": "runs in a Pod's container", "logs": "reads a container's log", "port-forward": "forwards to a Pod's port",
	"attach": "attaches to a container", "cp": "copies from a container", "debug": "starts a debug container",
	"top": "reads metrics-server's figures", "proxy": "serves a local proxy until interrupted",
}

// notReplayed says why the API server alone cannot answer a kubectl command, or "".
func (r *replayer) notReplayed(c Command, pos []string, opts []option) string {
	sub := pos[0]
	if why, ok := kubeletSubs[sub]; ok {
		return "kubectl " + sub + " " + why + ": needs a kubelet (no node here)"
	}
	for _, a := range c.Args {
		if strings.Contains(a, "$") {
			return "a shell expansion the replay cannot resolve (" + a + ")"
		}
	}
	for _, f := range values(opts, "-f", "--filename", "-k", "--kustomize") {
		if strings.Contains(f, "://") {
			return "a remote URL (" + f + ")"
		}
	}
	what := ""
	if len(pos) > 1 {
		what = strings.Split(pos[1], "/")[0]
	}
	switch {
	case sub == "rollout" && what == "status":
		return "kubectl rollout status waits for Pods to become ready: needs a kubelet"
	case sub == "rollout" && (what == "undo" || what == "history"):
		return "kubectl rollout " + what + " reads the ReplicaSets kube-controller-manager makes (none runs here)"
	case sub == "wait":
		return "kubectl wait waits for a condition a controller sets (" + strings.Join(values(opts, "--for"), " ") + "): none runs here"
	case (sub == "get" || sub == "describe") && slices.Contains([]string{"node", "nodes", "no"}, what):
		return "reads the nodes: no kubelet registers one"
	case sub == "get" && slices.Contains([]string{"pod", "pods", "po"}, what) &&
		slices.ContainsFunc(values(opts, "-o", "--output"), func(o string) bool { return strings.Contains(o, ".items[0]") }):
		return "reads a Pod: no kube-controller-manager makes Pods from the Deployments"
	case sub == "create" && slices.Contains([]string{"namespace", "ns"}, what) && len(pos) > 2 && r.setupMade[pos[2]]:
		return "the namespace exists: scripts/setup-cluster made it (prepare_namespace); the page's block for a machine it did not prepare"
	}
	for _, p := range pos[1:] {
		kind, name, slash := strings.Cut(p, "/")
		if !slash {
			kind, name = what, p
		}
		if file, ok := r.gatewayMade[name]; ok && (sub == "get" || sub == "describe") && (serviceWords[kind] || deployWords[kind]) {
			return "reads what Istio's gateway controller (istiod) makes for a Gateway (" + file + "): no istiod runs here"
		}
	}
	return ""
}

// run replays one command; it returns false if the server refused it.
func (r *replayer) run(c Command) bool {
	if len(c.Args) < 2 || c.Args[0] != "kubectl" {
		return true
	}
	pos, opts := parseArgs(c.Args[1:], kubectlValueOpts)
	if len(pos) == 0 {
		return true
	}
	if why := r.notReplayed(c, pos, opts); why != "" {
		r.skip(c, why)
		return true
	}
	args := slices.Clone(c.Args[1:])
	note := ""
	// A watch (-w) waits for changes a controller makes: the list it starts with is replayed.
	if i := slices.IndexFunc(args, func(a string) bool { return a == "-w" || a == "--watch" }); i >= 0 && pos[0] == "get" {
		args = slices.Delete(args, i, i+1)
		note = "without -w (a watch waits for a controller's changes)"
	}
	// Deleting a namespace waits for kube-controller-manager's namespace controller to empty it.
	if pos[0] == "delete" && len(pos) > 1 && slices.Contains([]string{"namespace", "namespaces", "ns"}, strings.Split(pos[1], "/")[0]) {
		args = append(args, "--wait=false")
		note = "with --wait=false (no kube-controller-manager empties the namespace: it stays Terminating)"
	}
	// kubectl refuses a second restart of a Deployment within a second; a learner is slower.
	if len(pos) > 1 && pos[0] == "rollout" && pos[1] == "restart" {
		time.Sleep(time.Until(r.lastRestart.Add(1100 * time.Millisecond)))
		defer func() { r.lastRestart = time.Now() }()
	}
	// A file the page makes before (a key, with openssl): a placeholder of the same name.
	for i, a := range args {
		if f, ok := strings.CutPrefix(a, "--from-file="); ok && !strings.Contains(f, "=") {
			if _, err := os.Stat(filepath.Join(root, f)); err != nil {
				path := filepath.Join(r.tmp, filepath.Base(f))
				if err := os.WriteFile(path, []byte("a placeholder for "+f+", which the page makes before\n"), 0o600); err != nil {
					r.t.Fatal(err)
				}
				args[i] = "--from-file=" + filepath.Base(f) + "=" + path
				note = "with a placeholder for " + f + " (the page makes it first)"
			}
		}
	}
	if note != "" {
		r.adapt(c, note)
	}
	out, err := r.cp.Kubectl(nil, args...)
	key := fmt.Sprintf("%s:%d", c.Page, c.Line)
	// What a delete names, by namespace and arguments: deleting it again where the page gives
	// two ways (the Istio API's and the Gateway API's blocks, both replayed) finds nothing.
	deleteKey := ""
	if pos[0] == "delete" {
		deleteKey = strings.Join(append(values(opts, "-n", "--namespace"), pos[1:]...), " ")
	}
	if err != nil && deleteKey != "" && r.deleted[deleteKey] != "" && strings.Contains(err.Error(), "(NotFound)") {
		r.skip(c, "deleted already by the page's other way (both replayed)")
		return true
	}
	if err == nil && deleteKey != "" && len(pos) > 1 {
		r.deleted[deleteKey] = key
	}
	switch {
	case err != nil && knownRefusals[key] != "":
		r.t.Logf("KNOWN REFUSAL (not failed: %s) %s: %s\n    %v", knownRefusals[key], key, shown(c.Args), err)
	case err != nil:
		r.problems = append(r.problems, Problem{c.Page, c.Line, shown(c.Args) + "\n    the API server: " +
			strings.ReplaceAll(err.Error(), "\n", "\n    ")})
		return false
	case slices.ContainsFunc(values(opts, "-o", "--output"), func(o string) bool { return strings.HasPrefix(o, "jsonpath") }) &&
		strings.TrimSpace(out) == "":
		r.problems = append(r.problems, Problem{c.Page, c.Line, shown(c.Args) + "\n    prints nothing: the path names no field of the object"})
		return false
	}
	if slices.ContainsFunc(values(opts, "-o", "--output"), func(o string) bool { return strings.HasPrefix(o, "jsonpath") }) {
		r.printed = strings.TrimSpace(out)
	}
	r.replayed++
	return true
}

// youShouldSee is the first `value` of the page's "**You should see**" after a block.
var youShouldSee = regexp.MustCompile("^\\*\\*You should see\\*\\* `([^`]*)`")

// compareOutput holds what a block's `kubectl get -o jsonpath` printed to the value the page's
// next "**You should see**" line gives, when that line follows the block before any other.
func (r *replayer) compareOutput(p *Page, b *Block) {
	if r.printed == "" {
		return
	}
	end := b.Line + len(b.Lines) + 1
	for _, l := range p.Prose {
		if l.N <= end || strings.TrimSpace(l.Text) == "" {
			continue
		}
		if m := youShouldSee.FindStringSubmatch(l.Text); m != nil {
			r.compared++
			if m[1] != r.printed {
				r.problems = append(r.problems, Problem{p.Name, l.N, fmt.Sprintf(
					"the page says you should see %q; the API server printed %q", m[1], r.printed)})
			}
		}
		return
	}
}

// replayPage replays a page's ```sh blocks, in order.
func (r *replayer) replayPage(p *Page) {
	for _, b := range p.Blocks {
		if b.Kind != "plain" {
			continue
		}
		cmds, err := b.Commands()
		if err != nil {
			r.problems = append(r.problems, err.(Problem))
			continue
		}
		r.printed = ""
		for _, c := range cmds {
			r.run(c)
		}
		r.compareOutput(p, b)
	}
}

// setupCluster makes on the API server what scripts/setup-cluster makes on a workshop machine
// (sidecar mode), as far as objects go: istioctl install's objects (`istioctl manifest generate
// -f cluster/istio.yaml`, less its CRDs, installed already, and its webhooks, which no istiod
// answers), cluster/telemetry.yaml, the pinned Istio's add-ons, and the namespace staging by
// setup-cluster's own prepare_namespace commands (read from its --dry-run).
func setupCluster(t *testing.T, r *replayer, istio string) {
	t.Helper()
	cp := r.cp
	istioctl, err := tools.Istioctl(root)
	if err != nil {
		t.Fatal(err)
	}
	gen := exec.Command(istioctl, "manifest", "generate", "-f", "cluster/istio.yaml")
	gen.Dir = root
	gen.Stderr = os.Stderr
	manifest, err := gen.Output()
	if err != nil {
		t.Fatalf("istioctl manifest generate -f cluster/istio.yaml: %v", err)
	}
	var kept [][]byte
	dropped := map[string]int{}
	for _, doc := range bytes.Split(manifest, []byte("\n---")) {
		var o struct{ Kind string }
		if err := yaml.Unmarshal(doc, &o); err != nil {
			t.Fatalf("istioctl manifest generate: %v", err)
		}
		switch o.Kind {
		case "":
		case "CustomResourceDefinition", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration":
			dropped[o.Kind]++
		default:
			kept = append(kept, doc)
		}
	}
	t.Logf("istioctl install's objects: %d applied; left out: %v (CRDs installed already; no istiod answers webhooks)", len(kept), dropped)
	cp.mustKubectl(t, nil, "create", "namespace", "istio-system")
	cp.mustKubectl(t, bytes.Join(kept, []byte("\n---\n")), "apply", "--server-side", "--field-manager=istioctl", "-f", "-")
	// setup-cluster: install_istio, install_addons.
	cp.mustKubectl(t, nil, "apply", "-f", "cluster/telemetry.yaml")
	for _, addon := range setupList(t, "ADDONS") {
		cp.mustKubectl(t, nil, "apply", "-f", filepath.Join(istio, "samples", "addons", addon+".yaml"))
	}
	// prepare_namespace, from setup-cluster's own dry run (kind, sidecars).
	step, err := tools.SetupNamespaceCommands(root)
	if err != nil {
		t.Fatal(err)
	}
	block := &Block{Page: "scripts/setup-cluster (prepare_namespace)", Kind: "plain"}
	for i, l := range step {
		block.Lines = append(block.Lines, Line{i + 1, l})
	}
	r.replayPage(&Page{Name: block.Page, Blocks: []*Block{block}})
	if len(r.problems) > 0 {
		t.Fatalf("setup-cluster's namespace step refused:\n%v", r.problems)
	}
	r.setupMade["staging"] = true
}

func TestReplay(t *testing.T) {
	if os.Getenv("ALEPHBETH_REPLAY") == "" {
		t.Skip("the pages replayed against a real API server: scripts/test replay (or ALEPHBETH_REPLAY=1)")
	}
	start := time.Now()
	cp := startControlPlane(t)
	// The release the workshop's cluster runs (setup-cluster's MicroK8s channel; kind follows it).
	if line, _, _ := strings.Cut(setupPin(t, "MICROK8S_CHANNEL"), "/"); !strings.HasPrefix(cp.Version, "v"+line+".") {
		t.Fatalf("kube/go.mod builds Kubernetes %s, the workshop's cluster runs %s (scripts/setup-cluster MICROK8S_CHANNEL): move one", cp.Version, line)
	}
	version, _ := cp.Kubectl(nil, "version")
	t.Logf("control plane ready in %s:\n%s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(version))
	istio := installCRDs(t, cp)

	t.Run("broken", func(t *testing.T) { replayBroken(t, cp) })

	t.Run("pages", func(t *testing.T) {
		begin := time.Now()
		r := newReplayer(t, cp)
		setupCluster(t, r, istio)
		t.Logf("the cluster as setup-cluster makes it, in %s", time.Since(begin).Round(time.Millisecond))
		pages, err := ReadPages(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pages {
			before, skippedBefore := r.replayed, r.count()
			pageStart := time.Now()
			r.replayPage(p)
			if r.replayed > before || r.count() > skippedBefore {
				t.Logf("%s: %d kubectl commands replayed, %d not, in %s", p.Name, r.replayed-before,
					r.count()-skippedBefore, time.Since(pageStart).Round(time.Millisecond))
			}
		}
		var report strings.Builder
		for _, reason := range r.reasons {
			fmt.Fprintf(&report, "\nnot replayed: %s\n", reason)
			for _, c := range r.skipped[reason] {
				fmt.Fprintf(&report, "    %s\n", c)
			}
		}
		for _, how := range r.adaptations {
			fmt.Fprintf(&report, "\nreplayed %s\n", how)
			for _, c := range r.adapted[how] {
				fmt.Fprintf(&report, "    %s\n", c)
			}
		}
		t.Logf("%d kubectl commands replayed in %s (%d outputs held to what the page says); the others:%s", r.replayed,
			time.Since(begin).Round(time.Millisecond), r.compared, report.String())
		for _, p := range r.problems {
			t.Errorf("%s", p)
		}
	})
}

func (r *replayer) count() int {
	n := 0
	for _, cs := range r.skipped {
		n += len(cs)
	}
	return n
}

// replayBroken: pages broken on purpose, each refused by the API server with its own
// message, in the page's failure format.
func replayBroken(t *testing.T, cp *controlPlane) {
	dir := scratch(t)
	cp.mustKubectl(t, nil, "create", "namespace", "broken")
	for _, tc := range []struct{ name, file, yaml, ns, want string }{
		{"a CEL rule violated", "beth-timeout.yaml", `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: beth
spec:
  parentRefs:
  - {group: "", kind: Service, name: beth, port: 80}
  rules:
  - backendRefs:
    - {name: beth, port: 80}
    timeouts: {request: 1s, backendRequest: 2s}
`, "broken", "backendRequest timeout cannot be longer than request timeout"},
		{"a field misspelt", "beth-vs.yaml", `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: beth
spec:
  hosts: [beth]
  http:
  - rout:
    - destination: {host: beth}
`, "broken", `unknown field "spec.http[0].rout"`},
		{"a namespace missing", "curl.yaml", `apiVersion: v1
kind: ServiceAccount
metadata:
  name: curl
`, "outside", `namespaces "outside" not found`},
		// What the pages' own kubectl rule no longer checks by hand: the server and kubectl say it.
		{"a file missing", "nosuch.yaml", "", "broken", "nosuch.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(dir, tc.file)
			if tc.yaml != "" {
				if err := os.WriteFile(file, []byte(tc.yaml), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			page := ParsePage("labs/broken.md", "# Broken on purpose\n\n```sh\nkubectl apply -f "+file+" -n "+tc.ns+"\n```\n")
			r := newReplayer(t, cp)
			r.replayPage(page)
			if len(r.problems) != 1 || !strings.Contains(r.problems[0].Msg, tc.want) {
				t.Fatalf("want one failure saying %q, got %v", tc.want, r.problems)
			}
			t.Logf("%s, as the replay reports it:\n%s", tc.name, r.problems[0])
		})
	}
}
