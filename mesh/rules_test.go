package mesh

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	configkube "istio.io/istio/pkg/config/kube"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// The project's own rules for deployments/ and istio/: what neither the schemas
// (scripts/validate-manifests, kubeconform) nor Istio's own code (istioctl analyze, the lab's
// traffic through Envoy) check, because only the project knows it: how the documents refer to
// each other, and the lab's conventions. One test per family of rules (TestRules...), each run
// over the repository's files and over broken cases, every one of which must fail with its
// message: the proof that the rule bites. A failure names the file, the document (kind/name)
// and what is wrong.

// probePaths are the paths the services answer the kubelet's httpGet probes on.
var probePaths = []string{"/healthz", "/readyz"}

// ourImage is an image of the lab: <Registry>/<service>:<tag>.
var ourImage = regexp.MustCompile(`^` + regexp.QuoteMeta(Registry) + `/([a-z0-9-]+):([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})$`)

// noCounterpart is what a paragraph of labs/*.md says of an istio/ file that has no
// istio/gateway-api/ file.
const noCounterpart = "no Gateway API counterpart"

// manifests are the YAML files of deployments/ and istio/ (its gateway-api/ too) of a tree,
// looked up as the rules need them.
type manifests struct {
	root    string
	files   []string // tree-relative, in lexical order
	objects []Object
	pods    []podTemplate   // the objects that run pods
	apps    map[string]bool // the lab's own services (labs/stages.tsv of the repository)
}

// podTemplate is an object that runs pods, with their labels and pod spec.
type podTemplate struct {
	Object
	labels map[string]string
	spec   map[string]any
}

func templateOf(o Object) (podTemplate, bool) {
	var tmpl map[string]any
	switch o.Kind() {
	case "Pod":
		tmpl = o.Doc
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job":
		tmpl, _ = lookup(o.Doc, "spec", "template").(map[string]any)
	case "CronJob":
		tmpl, _ = lookup(o.Doc, "spec", "jobTemplate", "spec", "template").(map[string]any)
	default:
		return podTemplate{}, false
	}
	spec, _ := tmpl["spec"].(map[string]any)
	return podTemplate{o, stringMap(lookup(tmpl, "metadata", "labels")), spec}, true
}

func (p podTemplate) containers() []map[string]any {
	var out []map[string]any
	for _, c := range asList(p.spec["containers"]) {
		if m, ok := c.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// hasPort says whether a port reference (a name, or a number) is a container port of the pods.
func (p podTemplate) hasPort(ref any) bool {
	name, byName := ref.(string)
	for _, c := range p.containers() {
		for _, port := range asList(c["ports"]) {
			m, _ := port.(map[string]any)
			if byName && str(m, "name") == name || !byName && ref != nil && toInt(m["containerPort"]) == toInt(ref) {
				return true
			}
		}
	}
	return false
}

// loadManifests reads the manifests of a tree (root, or a broken case's).
func loadManifests(t *testing.T, tree string) *manifests {
	t.Helper()
	stages, err := ReadStages(root)
	if err != nil {
		t.Fatal(err)
	}
	m := &manifests{root: tree, apps: map[string]bool{}}
	for _, s := range stages {
		m.apps[s.Service] = true
	}
	for _, dir := range []string{"deployments", "istio"} {
		err := filepath.WalkDir(filepath.Join(tree, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") && !strings.HasSuffix(path, ".yml") {
				return err
			}
			rel, _ := filepath.Rel(tree, path)
			docs, err := ReadDocs(tree, rel)
			if err != nil {
				return fmt.Errorf("%s: cannot read YAML: %w", rel, err)
			}
			m.files = append(m.files, filepath.ToSlash(rel))
			for _, doc := range docs {
				o := Object{Doc: doc, Source: filepath.ToSlash(rel)}
				m.objects = append(m.objects, o)
				if p, ok := templateOf(o); ok {
					m.pods = append(m.pods, p)
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
	}
	return m
}

func (m *manifests) ofKind(kind string) []Object {
	var out []Object
	for _, o := range m.objects {
		if o.Kind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func (m *manifests) get(kind, name string) (Object, bool) {
	for _, o := range m.ofKind(kind) {
		if o.Name() == name {
			return o, true
		}
	}
	return Object{}, false
}

// selected lists the pods (of one kind, unless "") that a selector picks.
func (m *manifests) selected(selector map[string]string, kind string) []podTemplate {
	var out []podTemplate
	for _, p := range m.pods {
		if matches(selector, p.labels) && (kind == "" || p.Kind() == kind) {
			out = append(out, p)
		}
	}
	return out
}

func (m *manifests) appNames() string { return strings.Join(slices.Sorted(maps.Keys(m.apps)), ", ") }

// failure is one line of a rule's failures: file, document, what is wrong.
func failure(o Object, format string, args ...any) string {
	document := o.Kind() + "/" + o.Name()
	if o.Name() == "" {
		document = o.Kind() // a Kustomization
	}
	return fmt.Sprintf("%s: %s: %s", o.Source, document, fmt.Sprintf(format, args...))
}

// A rule is one family of the project's rules: the failures of a tree's manifests.
type rule func(*manifests) []string

// ruleNamespaces: no namespace inside the files: the pages apply them with -n staging.
func ruleNamespaces(m *manifests) (fails []string) {
	for _, o := range m.objects {
		meta, _ := o.Doc["metadata"].(map[string]any)
		if ns, set := meta["namespace"]; set && o.Kind() != "Kustomization" {
			fails = append(fails, failure(o, "metadata.namespace is set (%v); the files are applied with -n %s", ns, Namespace))
		}
	}
	return fails
}

// rulePodTemplates: every pod template has the labels app and version, and its
// serviceAccountName names a ServiceAccount of these files.
func rulePodTemplates(m *manifests) (fails []string) {
	for _, p := range m.pods {
		for _, key := range []string{"app", "version"} {
			if p.labels[key] == "" {
				fails = append(fails, failure(p.Object, "pod template has no %q label", key))
			}
		}
		if sa := str(p.spec, "serviceAccountName"); sa != "" && sa != "default" {
			if _, ok := m.get("ServiceAccount", sa); !ok {
				fails = append(fails, failure(p.Object, "serviceAccountName %q is not a ServiceAccount in these files", sa))
			}
		}
	}
	return fails
}

// ruleContainers: the lab's images are <Registry>/<app>:<tag>, <app> the pod's app label;
// httpGet probes ask one of probePaths on a container port.
func ruleContainers(m *manifests) (fails []string) {
	for _, p := range m.pods {
		app := p.labels["app"]
		for _, c := range p.containers() {
			image, name := str(c, "image"), str(c, "name")
			repository, _, _ := strings.Cut(image[strings.LastIndex(image, "/")+1:], ":")
			if m.apps[app] || m.apps[repository] || strings.HasPrefix(image, Registry+"/") {
				switch ours := ourImage.FindStringSubmatch(image); {
				case ours == nil || !m.apps[ours[1]]:
					fails = append(fails, failure(p.Object, "image %q of container %q is not %s/<name>:<tag> with <name> one of %s",
						image, name, Registry, m.appNames()))
				case m.apps[app] && ours[1] != app:
					fails = append(fails, failure(p.Object, "image %q runs %s in a pod labelled app=%s", image, ours[1], app))
				}
			}
			for _, probe := range []string{"livenessProbe", "readinessProbe", "startupProbe"} {
				get, ok := lookup(c, probe, "httpGet").(map[string]any)
				if !ok {
					continue
				}
				if !slices.Contains(probePaths, str(get, "path")) {
					fails = append(fails, failure(p.Object, "%s path %q of container %q is not one of %s",
						probe, str(get, "path"), name, strings.Join(probePaths, ", ")))
				}
				if !p.hasPort(get["port"]) {
					fails = append(fails, failure(p.Object, "%s port %v of container %q is not a container port", probe, get["port"], name))
				}
			}
		}
	}
	return fails
}

// ruleDeployments: a Deployment of one of the lab's apps has a container named after it (the
// pages run kubectl set image deploy/<name> <app>=... and kubectl logs deploy/<name> <app>); a
// Deployment is named <app> or <app>-<version>; its selector matches its pod template and no
// other Deployment's.
func ruleDeployments(m *manifests) (fails []string) {
	var deployments []podTemplate
	for _, p := range m.pods {
		if p.Kind() == "Deployment" {
			deployments = append(deployments, p)
		}
	}
	for _, d := range deployments {
		app, version := d.labels["app"], d.labels["version"]
		var names []string
		for _, c := range d.containers() {
			names = append(names, str(c, "name"))
		}
		if m.apps[app] && !slices.Contains(names, app) {
			fails = append(fails, failure(d.Object, "no container named after the app %q (containers: %s); the pages run "+
				"kubectl set image deploy/%s %s=... and kubectl logs deploy/%s %s",
				app, strings.Join(names, ", "), d.Name(), app, d.Name(), app))
		}
		if m.apps[d.Name()] && d.Name() != app && !slices.Contains(names, d.Name()) {
			fails = append(fails, failure(d.Object, "Deployment %s has no container named %s", d.Name(), d.Name()))
		}
		if app != "" && d.Name() != app && d.Name() != app+"-"+version {
			fails = append(fails, failure(d.Object, "Deployment name is neither its app %q nor <app>-<version> %q", app, app+"-"+version))
		}
		selector := stringMap(lookup(d.Doc, "spec", "selector", "matchLabels"))
		if !matches(selector, d.labels) {
			fails = append(fails, failure(d.Object, "selector %s does not match the pod template labels %s", labels.Set(selector), labels.Set(d.labels)))
		}
		for _, other := range deployments {
			if other.Name() != d.Name() && matches(selector, other.labels) {
				fails = append(fails, failure(d.Object, "selector %s also selects the pods of Deployment %s", labels.Set(selector), other.Name()))
			}
		}
	}
	return fails
}

// ruleServices: a Service selects pods of these files, its targetPorts are container ports of
// every one, its port names tell Istio the protocol; a per-version Service (a version in its
// selector) selects exactly one Deployment.
func ruleServices(m *manifests) (fails []string) {
	for _, s := range m.ofKind("Service") {
		selector := stringMap(lookup(s.Doc, "spec", "selector"))
		selected := m.selected(selector, "")
		if len(selected) == 0 {
			fails = append(fails, failure(s, "selector %s selects no pod template in these files", labels.Set(selector)))
		}
		for _, p := range asList(lookup(s.Doc, "spec", "ports")) {
			port, _ := p.(map[string]any)
			target := port["targetPort"]
			if target == nil {
				target = port["port"]
			}
			for _, pod := range selected {
				if !pod.hasPort(target) {
					fails = append(fails, failure(s, "targetPort %v of port %q is not a container port of %s/%s",
						target, str(port, "name"), pod.Kind(), pod.Name()))
				}
			}
			// Istio's own choice of protocol, as its PortNameAnalyzer makes it (which istioctl
			// analyze skips on files alone: it needs a cluster's Services).
			var appProtocol *string
			if a, ok := port["appProtocol"].(string); ok {
				appProtocol = &a
			}
			name := str(port, "name")
			if configkube.ConvertProtocol(int32(toInt(port["port"])), name, corev1.Protocol(str(port, "protocol")), appProtocol).IsUnsupported() {
				fails = append(fails, failure(s, "port name %q does not start with an Istio protocol (<protocol>[-<suffix>]: http, http2, grpc, tcp, ...) and no appProtocol is set", name))
			}
		}
		if version, ok := selector["version"]; ok {
			var chosen []string
			for _, d := range m.selected(selector, "Deployment") {
				chosen = append(chosen, d.Name())
			}
			if len(chosen) != 1 {
				fails = append(fails, failure(s, "selects the version %s of %d Deployments (%s); a per-version Service selects exactly one",
					version, len(chosen), strings.Join(chosen, ", ")))
			}
		}
	}
	return fails
}

// ruleRoutes: an HTTPRoute attaches to a Service of these files (group "", on one of its ports:
// the mesh), or to a Gateway API Gateway of these files (on one of its listeners).
func ruleRoutes(m *manifests) (fails []string) {
	gateways := map[string]Object{}
	for _, g := range m.ofKind("Gateway") {
		if g.IsGatewayAPI() {
			gateways[g.Name()] = g
		}
	}
	for _, route := range m.ofKind("HTTPRoute") {
		for i, ref := range asList(lookup(route.Doc, "spec", "parentRefs")) {
			parent, _ := ref.(map[string]any)
			kind, group := "Gateway", GatewayAPIGroup
			if k, ok := parent["kind"].(string); ok {
				kind = k
			}
			if g, ok := parent["group"].(string); ok {
				group = g
			}
			name, port := str(parent, "name"), parent["port"]
			switch {
			case kind == "Service":
				if group != "" {
					fails = append(fails, failure(route, "parentRefs[%d] kind Service needs group \"\" (the core group); %q means another API", i, group))
				}
				svc, ok := m.get("Service", name)
				var ports []string
				for _, p := range asList(lookup(svc.Doc, "spec", "ports")) {
					p, _ := p.(map[string]any)
					ports = append(ports, fmt.Sprint(p["port"]))
				}
				switch {
				case !ok:
					fails = append(fails, failure(route, "parentRefs[%d] Service %q is not a Service in these files", i, name))
				case port == nil:
					fails = append(fails, failure(route, "parentRefs[%d] Service %s has no port (a Service needs one: 80, not its metrics port)", i, name))
				case !slices.Contains(ports, fmt.Sprint(port)):
					fails = append(fails, failure(route, "parentRefs[%d] Service %s port %v is not a port of the Service (ports: %s)",
						i, name, port, strings.Join(ports, ", ")))
				}
			case kind == "Gateway" && group == GatewayAPIGroup:
				gateway, ok := gateways[name]
				var listeners []string
				for _, l := range asList(lookup(gateway.Doc, "spec", "listeners")) {
					l, _ := l.(map[string]any)
					listeners = append(listeners, str(l, "name"))
				}
				section := str(parent, "sectionName")
				if !ok {
					fails = append(fails, failure(route, "parentRefs[%d] Gateway %q is not a Gateway API Gateway in these files", i, name))
				} else if section != "" && !slices.Contains(listeners, section) {
					fails = append(fails, failure(route, "parentRefs[%d] sectionName %q is no listener of Gateway %s", i, section, name))
				}
			default:
				fails = append(fails, failure(route, "parentRefs[%d] is a %s/%s: the labs attach routes to a Service or a Gateway", i, group, kind))
			}
		}
	}
	return fails
}

// ruleKustomization: a kustomization.yaml lists files that exist.
func ruleKustomization(m *manifests) (fails []string) {
	for _, o := range m.objects {
		if filepath.Base(o.Source) != "kustomization.yaml" {
			continue
		}
		for _, r := range asList(o.Doc["resources"]) {
			if _, err := os.Stat(filepath.Join(m.root, filepath.Dir(o.Source), fmt.Sprint(r))); err != nil {
				fails = append(fails, failure(o, "resource %q does not exist", r))
			}
		}
	}
	return fails
}

// meshDir is the folder of a file of istio/ or istio/gateway-api/, else "".
func meshDir(file string) string {
	if dir := filepath.ToSlash(filepath.Dir(file)); dir == "istio" || dir == "istio/gateway-api" {
		return dir
	}
	return ""
}

// ruleApplyComments: every istio/ and istio/gateway-api/ file starts with a comment (lab step,
// command, what to see) that holds its own `kubectl apply -f <file> -n staging`.
func ruleApplyComments(m *manifests) (fails []string) {
	for _, f := range m.files {
		if meshDir(f) == "" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(m.root, f))
		if err != nil {
			fails = append(fails, err.Error())
			continue
		}
		var header []string
		for _, line := range strings.Split(string(data), "\n") {
			if !strings.HasPrefix(line, "#") {
				break
			}
			header = append(header, line)
		}
		switch command := apply(f); {
		case len(header) == 0:
			fails = append(fails, f+": does not start with a comment (lab step, command, what to see)")
		case !strings.Contains(strings.Join(header, "\n"), command):
			fails = append(fails, fmt.Sprintf("%s: its opening comment does not hold `%s`", f, command))
		}
	}
	return fails
}

// ruleCounterparts: every istio/<file> has its istio/gateway-api/<file>, or a paragraph of
// labs/*.md that names istio/<file> says "no Gateway API counterpart" (and why); every
// istio/gateway-api/<file> has its istio/<file>. (That the two route alike is the lab traffic's
// to prove, TestLabTraffic.)
func ruleCounterparts(m *manifests) (fails []string) {
	has := map[string]bool{}
	for _, f := range m.files {
		has[f] = true
	}
	pages, err := filepath.Glob(filepath.Join(m.root, "labs", "*.md"))
	if err != nil {
		return []string{err.Error()}
	}
	// The paragraphs (each as one line) that say there is no counterpart.
	var excuses []string
	for _, page := range pages {
		data, err := os.ReadFile(page)
		if err != nil {
			return []string{err.Error()}
		}
		for _, p := range regexp.MustCompile(`\n\s*\n`).Split(string(data), -1) {
			if p = strings.Join(strings.Fields(p), " "); strings.Contains(strings.ToLower(p), strings.ToLower(noCounterpart)) {
				excuses = append(excuses, p)
			}
		}
	}
	for _, f := range m.files {
		name := filepath.Base(f)
		switch meshDir(f) {
		case "istio":
			if !has["istio/gateway-api/"+name] && !slices.ContainsFunc(excuses, func(p string) bool { return namesPath(p, f) }) {
				fails = append(fails, fmt.Sprintf("%s: no istio/gateway-api/%s, and no paragraph of labs/*.md naming %s says %q and why",
					f, name, f, noCounterpart))
			}
		case "istio/gateway-api":
			if !has["istio/"+name] {
				fails = append(fails, fmt.Sprintf("%s: no istio/%s of the same name (each Gateway API file is the counterpart of one)", f, name))
			}
		}
	}
	return fails
}

// namesPath says whether text names path itself, not a longer path or name that holds it.
func namesPath(text, path string) bool {
	inName := func(c byte, more string) bool {
		return unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c)) || strings.IndexByte(more, c) >= 0
	}
	for i := 0; ; {
		j := strings.Index(text[i:], path)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(path)
		if (start == 0 || !inName(text[start-1], "_/.-")) && (end == len(text) || !inName(text[end], "_.-")) {
			return true
		}
		i = start + 1
	}
}

// goodManifests pass every rule; each broken case changes one text of them.
const goodManifests = `
apiVersion: v1
kind: ServiceAccount
metadata: {name: beth}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: beth}
spec:
  selector: {matchLabels: {app: beth, version: v01}}
  template:
    metadata: {labels: {app: beth, version: v01}}
    spec:
      serviceAccountName: beth
      containers:
        - name: beth
          image: localhost:32000/beth:0.1
          ports: [{name: http, containerPort: 8080}, {name: http-metrics, containerPort: 8000}]
          readinessProbe: {httpGet: {path: /readyz, port: 8080}}
          livenessProbe: {httpGet: {path: /healthz, port: http}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: beth-v03}
spec:
  template:
    metadata: {labels: {app: beth, version: v03}}
    spec:
      serviceAccountName: beth
      containers: [{name: beth, image: "localhost:32000/beth:0.3", ports: [{name: http, containerPort: 8080}, {name: http-metrics, containerPort: 8000}]}]
  selector: {matchLabels: {app: beth, version: v03}}
---
apiVersion: v1
kind: Service
metadata: {name: beth}
spec:
  selector: {app: beth}
  ports:
    - {name: http-beth, port: 80, targetPort: 8080}
    - {name: http-metrics, port: 8000, targetPort: 8000}
---
apiVersion: v1
kind: Service
metadata: {name: beth-v03}
spec:
  selector: {app: beth, version: v03}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: front-gateway}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: beth}
spec:
  parentRefs:
    - {group: "", kind: Service, name: beth, port: 80}
    - {name: front-gateway, sectionName: http}
  rules:
    - backendRefs:
        - {name: beth, port: 80, weight: 95}
        - {name: beth-v03, port: 80, weight: 5}
`

// brokenCase is a tree that a rule must fail with a message holding want ("": must pass):
// goodManifests with old replaced by new (as deployments/case.yaml), or the files of tree.
type brokenCase struct {
	name, old, new string
	tree           map[string]string
	want           string
}

// testRule runs a rule over the repository's files (no failure), over goodManifests (none) and
// over each broken case (the failure it must give).
func testRule(t *testing.T, r rule, cases ...brokenCase) {
	t.Helper()
	for _, f := range r(loadManifests(t, root)) {
		t.Error(f)
	}
	for _, c := range append([]brokenCase{{name: "good manifests"}}, cases...) {
		t.Run(c.name, func(t *testing.T) {
			if c.tree == nil {
				if c.old != "" && strings.Count(goodManifests, c.old) != 1 {
					t.Fatalf("%q is not once in goodManifests", c.old)
				}
				c.tree = map[string]string{"deployments/case.yaml": goodManifests}
				if c.old != "" {
					c.tree["deployments/case.yaml"] = strings.Replace(goodManifests, c.old, c.new, 1)
				}
			}
			tree := t.TempDir()
			for path, text := range c.tree {
				if err := os.MkdirAll(filepath.Dir(filepath.Join(tree, path)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(tree, path), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			fails := r(loadManifests(t, tree))
			switch {
			case c.want == "" && len(fails) > 0:
				t.Errorf("fails:\n%s", strings.Join(fails, "\n"))
			case c.want != "":
				i := slices.IndexFunc(fails, func(f string) bool { return strings.Contains(f, c.want) })
				if i < 0 {
					t.Fatalf("not caught: want a failure with %q, got %q", c.want, fails)
				}
				t.Logf("caught: %s", fails[i])
			}
		})
	}
}

func TestRulesNamespaces(t *testing.T) {
	testRule(t, ruleNamespaces,
		brokenCase{name: "namespace in a file", old: "metadata: {name: beth-v03}\nspec:\n  template",
			new: "metadata: {name: beth-v03, namespace: default}\nspec:\n  template", want: "metadata.namespace is set"})
}

func TestRulesPodTemplates(t *testing.T) {
	testRule(t, rulePodTemplates,
		brokenCase{name: "pod template without version", old: "metadata: {labels: {app: beth, version: v03}}",
			new: "metadata: {labels: {app: beth}}", want: `pod template has no "version" label`},
		brokenCase{name: "ServiceAccount not here", old: "serviceAccountName: beth\n      containers:\n        - name: beth\n          image: localhost:32000/beth:0.1",
			new: "serviceAccountName: bet\n      containers:\n        - name: beth\n          image: localhost:32000/beth:0.1", want: `serviceAccountName "bet"`})
}

func TestRulesContainers(t *testing.T) {
	testRule(t, ruleContainers,
		brokenCase{name: "image outside the registry", old: `image: "localhost:32000/beth:0.3"`, new: `image: "docker.io/beth:0.3"`,
			want: "not localhost:32000/<name>:<tag>"},
		brokenCase{name: "image of another app", old: `image: "localhost:32000/beth:0.3"`, new: `image: "localhost:32000/aleph:0.3"`,
			want: "runs aleph in a pod labelled app=beth"},
		brokenCase{name: "probe path", old: "path: /readyz", new: "path: /ready", want: `readinessProbe path "/ready"`},
		brokenCase{name: "probe port", old: "port: http}}", new: "port: web}}", want: `livenessProbe port web of container "beth" is not a container port`})
}

func TestRulesDeployments(t *testing.T) {
	testRule(t, ruleDeployments,
		brokenCase{name: "container not named after the app", old: "        - name: beth\n          image: localhost:32000/beth:0.1",
			new: "        - name: app\n          image: localhost:32000/beth:0.1", want: `no container named after the app "beth"`},
		brokenCase{name: "Deployment named after neither app nor version", old: "metadata: {name: beth-v03}\nspec:\n  template",
			new: "metadata: {name: beth-new}\nspec:\n  template", want: `neither its app "beth" nor <app>-<version>`},
		brokenCase{name: "selector not matching the template", old: "selector: {matchLabels: {app: beth, version: v03}}",
			new: "selector: {matchLabels: {app: beth, version: v02}}", want: "does not match the pod template labels"},
		brokenCase{name: "overlapping Deployment selectors", old: "selector: {matchLabels: {app: beth, version: v03}}",
			new: "selector: {matchLabels: {app: beth}}", want: "also selects the pods of Deployment beth"})
}

func TestRulesServices(t *testing.T) {
	testRule(t, ruleServices,
		brokenCase{name: "targetPort not a container port", old: "port: 80, targetPort: 8080", new: "port: 80, targetPort: 8081",
			want: `targetPort 8081 of port "http-beth" is not a container port of Deployment/beth`},
		brokenCase{name: "targetPort name not a container port", old: "targetPort: http}", new: "targetPort: web}",
			want: "targetPort web"},
		brokenCase{name: "selector of no pods", old: "selector: {app: beth}\n", new: "selector: {app: bet}\n",
			want: "selects no pod template"},
		brokenCase{name: "Service port name without a protocol", old: "{name: http-beth, port: 80, targetPort: 8080}",
			new: "{name: web, port: 80, targetPort: 8080}", want: `port name "web" does not start with an Istio protocol`},
		brokenCase{name: "per-version Service selecting no Deployment", old: "selector: {app: beth, version: v03}\n  ports",
			new: "selector: {app: beth, version: v02}\n  ports", want: "of 0 Deployments"})
}

func TestRulesRoutes(t *testing.T) {
	testRule(t, ruleRoutes,
		brokenCase{name: "parentRef Service without the core group", old: `{group: "", kind: Service, name: beth, port: 80}`,
			new: "{kind: Service, name: beth, port: 80}", want: `needs group ""`},
		brokenCase{name: "parentRef Service not here", old: `{group: "", kind: Service, name: beth, port: 80}`,
			new: `{group: "", kind: Service, name: bet, port: 80}`, want: `Service "bet" is not a Service`},
		brokenCase{name: "parentRef Service without a port", old: `{group: "", kind: Service, name: beth, port: 80}`,
			new: `{group: "", kind: Service, name: beth}`, want: "Service beth has no port"},
		brokenCase{name: "parentRef Service on a port it lacks", old: `{group: "", kind: Service, name: beth, port: 80}`,
			new: `{group: "", kind: Service, name: beth, port: 8080}`, want: "port 8080 is not a port of the Service (ports: 80, 8000)"},
		brokenCase{name: "parentRef to a missing Gateway", old: "{name: front-gateway, sectionName: http}",
			new: "{name: front-gw, sectionName: http}", want: `Gateway "front-gw"`},
		brokenCase{name: "parentRef to a missing listener", old: "{name: front-gateway, sectionName: http}",
			new: "{name: front-gateway, sectionName: https}", want: `sectionName "https"`},
		brokenCase{name: "parentRef of another kind", old: "{name: front-gateway, sectionName: http}",
			new: "{group: networking.istio.io, kind: Gateway, name: front-gateway}", want: "parentRefs[1] is a networking.istio.io/Gateway"})
}

func TestRulesKustomization(t *testing.T) {
	testRule(t, ruleKustomization,
		brokenCase{name: "a resource that is not there", tree: map[string]string{
			"deployments/kustomization.yaml": "kind: Kustomization\nresources: [a.yaml, b.yaml]\n", "deployments/a.yaml": goodManifests},
			want: `deployments/kustomization.yaml: Kustomization: resource "b.yaml" does not exist`})
}

// Mesh files for the file rules' cases: a VirtualService and an HTTPRoute, each with its
// comment for file %s.
const (
	caseVirtualService = "# x\n#   kubectl apply -f istio/%s -n staging\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: beth}\n"
	caseHTTPRoute      = "# x\n#   kubectl apply -f istio/gateway-api/%s -n staging\napiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: beth}\n"
)

func TestRulesApplyComments(t *testing.T) {
	testRule(t, ruleApplyComments,
		brokenCase{name: "comments that hold their commands", tree: map[string]string{
			"istio/a.yaml": fmt.Sprintf(caseVirtualService, "a.yaml"), "istio/gateway-api/a.yaml": fmt.Sprintf(caseHTTPRoute, "a.yaml")}},
		brokenCase{name: "a Gateway API file without its command", tree: map[string]string{
			"istio/gateway-api/a.yaml": fmt.Sprintf(caseHTTPRoute, "b.yaml")},
			want: "istio/gateway-api/a.yaml: its opening comment does not hold `kubectl apply -f istio/gateway-api/a.yaml -n staging`"},
		brokenCase{name: "a file without a comment", tree: map[string]string{
			"istio/a.yaml": "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: beth}\n"},
			want: "istio/a.yaml: does not start with a comment"})
}

func TestRulesCounterparts(t *testing.T) {
	vs := fmt.Sprintf(caseVirtualService, "a.yaml")
	testRule(t, ruleCounterparts,
		brokenCase{name: "counterparts", tree: map[string]string{
			"istio/a.yaml": vs, "istio/gateway-api/a.yaml": fmt.Sprintf(caseHTTPRoute, "a.yaml")}},
		brokenCase{name: "no counterpart, excused by a page", tree: map[string]string{
			"istio/a.yaml": vs, "labs/p.md": "Text.\n\n`istio/a.yaml` has no Gateway API\ncounterpart: ...\n"}},
		brokenCase{name: "no counterpart", tree: map[string]string{"istio/a.yaml": vs},
			want: "istio/a.yaml: no istio/gateway-api/a.yaml"},
		brokenCase{name: "a page excusing another file", tree: map[string]string{
			"istio/a.yaml": vs, "labs/p.md": "`istio/ab.yaml` and istio/a.yaml.bak have no Gateway API counterpart\n"},
			want: "istio/a.yaml: no istio/gateway-api/a.yaml"},
		brokenCase{name: "a page naming the file in another paragraph", tree: map[string]string{
			"istio/a.yaml": vs, "labs/p.md": "`istio/a.yaml` routes beth.\n\nIt has no Gateway API counterpart.\n"},
			want: "istio/a.yaml: no istio/gateway-api/a.yaml"},
		brokenCase{name: "a Gateway API file of no istio/ file", tree: map[string]string{
			"istio/gateway-api/a.yaml": fmt.Sprintf(caseHTTPRoute, "a.yaml")},
			want: "istio/gateway-api/a.yaml: no istio/a.yaml of the same name"})
}
