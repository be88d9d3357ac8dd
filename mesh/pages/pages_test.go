package pages

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// root is the repository's top folder: this package lives in mesh/pages/.
var root = func() string {
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return dir
}()

const namespace = "staging"

var repo = sync.OnceValues(func() (*Repo, error) { return ReadRepo(root) })

// theGuide is the lab guide as it is in the working tree.
func theGuide(t *testing.T) *Guide {
	t.Helper()
	r, err := repo()
	if err != nil {
		t.Fatal(err)
	}
	pages, err := ReadPages(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) == 0 {
		t.Fatal("no pages in labs/")
	}
	return &Guide{Repo: r, Pages: pages}
}

// guideOf is a guide of the given pages, name then text, checked against this repository.
func guideOf(t *testing.T, pages ...string) *Guide {
	t.Helper()
	r, err := repo()
	if err != nil {
		t.Fatal(err)
	}
	g := &Guide{Repo: r}
	for i := 0; i+1 < len(pages); i += 2 {
		g.Pages = append(g.Pages, ParsePage(pages[i], pages[i+1]))
	}
	return g
}

// goodPage passes every rule; each broken case changes one thing in it, and must fail.
const goodPage = "# A page\n\n" +
	"```sh\n" +
	"kubectl apply -f istio/beth-vs.yaml -n staging\n" +
	"kubectl apply -k deployments/ -n staging\n" +
	"kubectl set image deploy/beth beth=localhost:32000/beth:0.2 -n staging\n" +
	"kubectl logs deploy/front front -n staging\n" +
	"kubectl exec deploy/loader -c loader -n staging -- loader http://aleph/version --duration 30s\n" +
	"kubectl get svc front -n staging\n" +
	"kubectl get svc istio-ingressgateway -n istio-system\n" +
	"kubectl apply -f istio/gateway-api/gateway.yaml -n staging\n" +
	"kubectl get svc front-gateway-istio -n staging\n" +
	"export FRONT=http://$(kubectl get nodes -o jsonpath='{.items[0].status.addresses[0].address}'):$(kubectl get svc front -n staging -o jsonpath='{.spec.ports[0].nodePort}')\n" +
	"TAG=0.2 docker compose build beth && TAG=0.2 docker compose push beth\n" +
	"docker compose --profile tools build loader\n" +
	"```\n\n" +
	"Then `beth/src/lib.rs`:\n\n" +
	"```sh local\n" +
	"git apply labs/beth-0.2.patch\n" +
	"grep -n 'VERSION: &str' beth/src/lib.rs\n" +
	"```\n"

// broken is goodPage with old replaced by new: a failure must contain want.
type broken struct{ name, old, new, want string }

// testRule holds the guide to a rule, then proves the rule bites: goodPage passes it, and each
// broken page fails it with the expected message.
func testRule(t *testing.T, rule func(*Guide) []Problem, cases []broken) {
	t.Helper()
	for _, p := range rule(theGuide(t)) {
		t.Error(p)
	}
	if ps := rule(guideOf(t, "labs/good.md", goodPage)); len(ps) > 0 {
		t.Errorf("the good page fails: %v", ps)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if strings.Count(goodPage, c.old) != 1 {
				t.Fatalf("%q is not once in goodPage", c.old)
			}
			mustFail(t, rule(guideOf(t, "labs/broken.md", strings.Replace(goodPage, c.old, c.new, 1))), c.want)
		})
	}
}

func mustFail(t *testing.T, ps []Problem, want string) {
	t.Helper()
	for _, p := range ps {
		if strings.Contains(p.String(), want) {
			t.Log(p)
			return
		}
	}
	t.Errorf("not caught: want a failure with %q, got %v", want, ps)
}

// commands lists the commands of the guide's blocks of one kind, and the pages' unreadable lines.
func commands(g *Guide, kind string) ([]Command, []Problem) {
	var out []Command
	var ps []Problem
	for _, p := range g.Pages {
		for _, b := range p.Blocks {
			if b.Kind != kind {
				continue
			}
			cs, err := b.Commands()
			if err != nil {
				ps = append(ps, err.(Problem))
			}
			out = append(out, cs...)
		}
	}
	return out, ps
}

// Command blocks are fenced ```sh or ```sh local, and every block is closed.
func TestPagesFences(t *testing.T) {
	testRule(t, func(g *Guide) []Problem {
		var ps []Problem
		for _, p := range g.Pages {
			ps = append(ps, p.Problems...)
		}
		return ps
	}, []broken{
		{"block fenced bash", "```sh\nkubectl apply", "```bash\nkubectl apply", "fenced ```bash"},
		{"block fenced sh with a word", "```sh local\n", "```sh remote\n", "fenced ```sh remote"},
		{"block never closed", "beth/src/lib.rs\n```\n", "beth/src/lib.rs\n", "never closed"},
	})
}

var (
	repoPath = regexp.MustCompile(`(?:^|[^\w./$:-])((?:deployments|istio|labs|scripts|cluster|aleph|beth|front|shared|backend|loader|testkit)/[\w./*-]*[\w*])`)
)

// inlineCode lists a prose line's `inline code`.
func inlineCode(line string) []string {
	var out []string
	for i := 0; i < len(line); {
		if line[i] != '`' {
			i++
			continue
		}
		j := i
		for j < len(line) && line[j] == '`' {
			j++
		}
		end := strings.Index(line[j:], line[i:j])
		if end < 0 {
			break
		}
		out = append(out, line[j:j+end])
		i = j + end + (j - i)
	}
	return out
}

// Every repository path a ```sh block or `inline code` names exists.
func TestPagesPaths(t *testing.T) {
	testRule(t, func(g *Guide) []Problem {
		var ps []Problem
		check := func(page string, n int, text string) {
			for _, m := range repoPath.FindAllStringSubmatch(text, -1) {
				if !g.Repo.Exists(m[1]) {
					ps = append(ps, Problem{page, n, m[1] + " does not exist"})
				}
			}
		}
		for _, p := range g.Pages {
			for _, l := range p.Prose {
				for _, code := range inlineCode(l.Text) {
					check(p.Name, l.N, code)
				}
			}
			for _, b := range p.Blocks {
				if b.Kind == "plain" {
					for _, l := range b.Lines {
						check(p.Name, l.N, l.Text)
					}
				}
			}
		}
		return ps
	}, []broken{
		{"missing path in prose", "`beth/src/lib.rs`", "`beth/src/main2.rs`", "beth/src/main2.rs does not exist"},
		{"missing path in a block", "istio/gateway-api/gateway.yaml", "istio/gateway-api/gw.yaml", "istio/gateway-api/gw.yaml does not exist"},
	})
}

// option is one option of a command line: -f FILE, --file=FILE, -A.
type option struct{ name, value string }

// parseArgs splits a command's arguments into positionals and options (those of valueOpts take
// the next word); the words after -- are dropped.
func parseArgs(words []string, valueOpts map[string]bool) ([]string, []option) {
	var pos []string
	var opts []option
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case w == "--":
			return pos, opts
		case strings.HasPrefix(w, "--") && strings.Contains(w, "="):
			k, v, _ := strings.Cut(w, "=")
			opts = append(opts, option{k, v})
		case strings.HasPrefix(w, "-") && len(w) > 2 && w[2] == '=':
			opts = append(opts, option{w[:2], w[3:]})
		case valueOpts[w] && i+1 < len(words):
			opts = append(opts, option{w, words[i+1]})
			i++
		case strings.HasPrefix(w, "-") && len(w) > 1:
			opts = append(opts, option{w, ""})
		default:
			pos = append(pos, w)
		}
	}
	return pos, opts
}

func values(opts []option, names ...string) []string {
	var out []string
	for _, o := range opts {
		if slices.Contains(names, o.name) && o.value != "" {
			out = append(out, o.value)
		}
	}
	return out
}

func has(opts []option, names ...string) bool {
	return slices.ContainsFunc(opts, func(o option) bool { return slices.Contains(names, o.name) })
}

func set(words ...string) map[string]bool {
	m := map[string]bool{}
	for _, w := range words {
		m[w] = true
	}
	return m
}

var (
	kubectlValueOpts = set("-n", "--namespace", "-c", "--container", "-f", "--filename", "-k", "--kustomize",
		"-l", "--selector", "-o", "--output", "--tail", "--since", "--context", "--type", "--field-selector",
		"--replicas", "--timeout", "--image", "--port", "--to-revision", "--sort-by", "--cluster", "--user",
		"--kubeconfig")
	kubectlNoNS      = set("config", "version", "cluster-info", "api-resources", "api-versions", "plugin", "completion", "explain", "krew")
	clusterScoped    = set("namespace", "namespaces", "ns", "node", "nodes", "no", "clusterrole", "clusterroles", "clusterrolebinding", "clusterrolebindings", "crd", "crds", "customresourcedefinition", "customresourcedefinitions", "pv", "persistentvolume", "persistentvolumes", "storageclass", "storageclasses", "sc", "apiservice", "apiservices")
	deployWords      = set("deploy", "deployment", "deployments", "deployment.apps", "deployments.apps")
	serviceWords     = set("svc", "service", "services")
	injectedContains = set("istio-proxy", "istio-init") // Istio injects them into every pod of staging
)

// kubectlRule: every kubectl command on namespaced resources carries -n (or -A); in -n staging, deploy/NAME names a Deployment (of deployments/ or one
// Istio makes for a Gateway), its containers (-c, logs' second argument, set image's C=IMAGE)
// are that Deployment's or istio-proxy, svc NAME a Service.
func kubectlRule(g *Guide) []Problem {
	cmds, ps := commands(g, "plain")
	r := g.Repo
	for _, c := range cmds {
		if c.Args[0] != "kubectl" {
			continue
		}
		fail := func(format string, a ...any) { ps = append(ps, Problem{c.Page, c.Line, fmt.Sprintf(format, a...)}) }
		pos, opts := parseArgs(c.Args[1:], kubectlValueOpts)
		if len(pos) == 0 {
			continue
		}
		sub := pos[0]
		ns := ""
		if n := values(opts, "-n", "--namespace"); len(n) > 0 {
			ns = n[len(n)-1]
		}
		scoped := kubectlNoNS[sub]
		for _, p := range pos[1:min(3, len(pos))] {
			scoped = scoped || clusterScoped[strings.Split(p, "/")[0]]
		}
		if ns == "" && !has(opts, "-A", "--all-namespaces") && !scoped {
			fail("kubectl %s without -n %s", sub, namespace)
		}
		// Whether its -f files and -k folders exist, the replay's real kubectl says (replay_test.go).
		if ns != "" && ns != namespace {
			continue // another namespace (istio-system...): not ours to check
		}
		type named struct {
			name  string
			index int
		}
		var deployments []named
		var services []string
		rest := pos[1:]
		for i := 0; i < len(rest); i++ {
			kind, name, slash := strings.Cut(rest[i], "/")
			switch {
			case slash && deployWords[kind] && !strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, ".yml"):
				deployments = append(deployments, named{name, i})
			case slash && serviceWords[kind]:
				services = append(services, name)
			case !slash && (deployWords[kind] || serviceWords[kind]):
				for i+1 < len(rest) && !strings.ContainsAny(rest[i+1], "=/") {
					i++
					if deployWords[kind] {
						deployments = append(deployments, named{rest[i], i})
					} else {
						services = append(services, rest[i])
					}
				}
			}
		}
		for _, s := range services {
			if !r.Services[s] {
				fail("no Service %q in deployments/*.yaml (there are: %s)", s, keys(r.Services))
			}
		}
		for _, d := range deployments {
			containers, ok := r.Deployments[d.name]
			if !ok {
				fail("no Deployment %q in deployments/*.yaml (there are: %s)", d.name, keys(r.Deployments))
				continue
			}
			want := values(opts, "-c", "--container")
			if sub == "logs" && d.index+1 < len(rest) && !strings.Contains(rest[d.index+1], "/") {
				want = append(want, rest[d.index+1])
			}
			if sub == "set" && len(rest) > 0 && rest[0] == "image" {
				for _, p := range rest {
					if name, _, ok := strings.Cut(p, "="); ok {
						want = append(want, name)
					}
				}
			}
			for _, w := range want {
				if w != "*" && !slices.Contains(containers, w) && !injectedContains[w] {
					fail("Deployment %s has no container %q (containers: %s)", d.name, w, strings.Join(containers, ", "))
				}
			}
		}
	}
	return ps
}

func keys[V any](m map[string]V) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

func TestPagesKubectl(t *testing.T) {
	testRule(t, kubectlRule, []broken{
		{"wrong deployment name", "logs deploy/front front", "logs deploy/nosuch front", `no Deployment "nosuch"`},
		{"wrong container in set image", "beth=localhost", "bet=localhost", `no container "bet"`},
		{"wrong container in logs", "deploy/front front", "deploy/front frnt", `no container "frnt"`},
		{"wrong container in exec -c", "-c loader", "-c load", `no container "load"`},
		{"wrong service name", "get svc front -n staging\nkubectl get svc istio", "get svc fornt -n staging\nkubectl get svc istio", `no Service "fornt"`},
		{"wrong Gateway API gateway Service", "get svc front-gateway-istio -n", "get svc front-gateway -n", `no Service "front-gateway"`},
		{"kubectl without -n", "kubectl get svc front -n staging\nkubectl get svc istio", "kubectl get svc front\nkubectl get svc istio", "kubectl get without -n staging"},
		{"kubectl in a command substitution", "get svc front -n staging -o", "get svc frnt -n staging -o", `no Service "frnt"`},
		{"a line the shell cannot read", "build loader\n", "build loader )\n", "labs/broken.md:15: cannot read this shell line"},
	})
}

var (
	composeGlobalValueOpts = set("-f", "--file", "-p", "--project-name", "--profile", "--env-file", "--project-directory", "--ansi", "--progress")
	composeSubValueOpts    = set("--build-arg", "-e", "--env", "-u", "--user", "-w", "--workdir", "--entrypoint", "--name", "-l", "--label", "-t", "--timeout", "--scale", "--tail", "--pull", "--ssh", "--builder", "-m", "--memory")
	composeServiceSubs     = set("build", "push", "pull", "up", "run", "create", "start", "stop", "restart", "logs", "rm", "kill", "images", "ps")
)

// composeRule: Compose runs as v2's `docker compose`; docker compose build|push|up|run SERVICE
// names a Compose service, with --profile when the service has profiles; TAG=X docker compose
// ... SERVICE uses a stage tag of SERVICE; a -f file exists.
func composeRule(g *Guide) []Problem {
	cmds, ps := commands(g, "plain")
	r := g.Repo
	for _, c := range cmds {
		fail := func(format string, a ...any) { ps = append(ps, Problem{c.Page, c.Line, fmt.Sprintf(format, a...)}) }
		var args []string
		switch {
		case c.Args[0] == "docker-compose":
			fail("docker-compose is Compose v1, end-of-life: write `docker compose` (v2), as learners' Docker has it")
			args = c.Args[1:]
		case len(c.Args) > 1 && c.Args[0] == "docker" && c.Args[1] == "compose":
			args = c.Args[2:]
		default:
			continue
		}
		var profiles []string
		i := 0
		for ; i < len(args) && strings.HasPrefix(args[i], "-"); i++ {
			k, v, eq := strings.Cut(args[i], "=")
			if !eq && composeGlobalValueOpts[k] && i+1 < len(args) {
				v = args[i+1]
				i++
			}
			switch k {
			case "--profile":
				profiles = append(profiles, v)
			case "-f", "--file":
				if !r.Exists(v) {
					fail("docker compose -f %s: no such file", v)
				}
			}
		}
		if i >= len(args) || !composeServiceSubs[args[i]] {
			continue
		}
		sub := args[i]
		services, _ := parseArgs(args[i+1:], composeSubValueOpts)
		if sub == "run" && len(services) > 1 {
			services = services[:1]
		}
		for _, s := range services {
			needed, ok := r.Compose[s]
			if !ok {
				fail("docker compose %s %s: not a compose service (services: %s)", sub, s, keys(r.Compose))
				continue
			}
			if len(needed) > 0 && sub != "run" && !slices.ContainsFunc(needed, func(p string) bool { return slices.Contains(profiles, p) }) {
				fail("docker compose %s %s: the service is in profile %s: add --profile %s", sub, s, strings.Join(needed, ", "), needed[0])
			}
			if tag, ok := c.Env["TAG"]; ok {
				if tags := r.Stages.Tags(s); len(tags) > 0 && !slices.Contains(tags, tag) {
					fail("TAG=%s docker compose %s %s: %s is not a stage tag of %s (%s)", tag, sub, s, tag, s, strings.Join(tags, ", "))
				}
			}
		}
	}
	return ps
}

func TestPagesCompose(t *testing.T) {
	testRule(t, composeRule, []broken{
		{"wrong compose service", "docker compose build beth", "docker compose build bet", "not a compose service"},
		{"Compose v1's command", "TAG=0.2 docker compose build", "TAG=0.2 docker-compose build", "Compose v1"},
		{"compose TAG not a stage tag", "TAG=0.2 docker compose push", "TAG=0.5 docker compose push", "TAG=0.5"},
		{"compose profile missing", "docker compose --profile tools build loader", "docker compose build loader", "--profile tools"},
		{"compose file missing", "docker compose --profile tools build", "docker compose -f compose.yml --profile tools build", "-f compose.yml: no such file"},
	})
}

// imagesRule: everywhere in the pages, an image localhost:32000/NAME:TAG is one of the lab's
// (labs/stages.tsv) and TAG one of its stage tags; the builder Compose builds goes untagged.
func imagesRule(g *Guide) []Problem {
	var ps []Problem
	r := g.Repo
	for _, p := range g.Pages {
		lines := slices.Clone(p.Prose)
		for _, b := range p.Blocks {
			lines = append(lines, b.Lines...)
		}
		for _, l := range lines {
			for _, m := range Image.FindAllStringSubmatch(l.Text, -1) {
				name, tag := m[1], m[2]
				tags := r.Stages.Tags(name)
				switch {
				case r.BuildOnly[name] && tag == "":
				case len(tags) == 0:
					ps = append(ps, Problem{p.Name, l.N, fmt.Sprintf("image %s/%s: not one of the lab's images (labs/stages.tsv)", Registry, name)})
				case tag != "" && !slices.Contains(tags, tag):
					ps = append(ps, Problem{p.Name, l.N, fmt.Sprintf("image %s/%s:%s: tag %s is not a stage tag of %s (%s)",
						Registry, name, tag, tag, name, strings.Join(tags, ", "))})
				}
			}
		}
	}
	return ps
}

func TestPagesImages(t *testing.T) {
	testRule(t, imagesRule, []broken{
		{"image tag not a stage tag", "beth:0.2 -n", "beth:0.4 -n", "tag 0.4"},
		{"image not the lab's", "localhost:32000/beth:0.2", "localhost:32000/bath:0.2", "not one of the lab's images"},
		{"image in prose", "Then `beth", "Then `localhost:32000/aleph:0.9` and `beth", "tag 0.9"},
	})
}

// gitApply finds `git apply [-R] labs/<patch>`.
var (
	gitApply = regexp.MustCompile(`\bgit\s+apply\b((?:\s+-{1,2}[\w-]+)*)\s+(?:\./)?labs/([\w.-]+\.patch)`)
	reversed = regexp.MustCompile(`\s(-R|--reverse)\b`)
)

// applied lists the patches a line applies (reverse: git apply -R).
func applied(text string) (patches []string, reverse []bool) {
	for _, m := range gitApply.FindAllStringSubmatch(text, -1) {
		patches = append(patches, m[2])
		reverse = append(reverse, reversed.MatchString(m[1]))
	}
	return patches, reverse
}

// patchesRule: git apply needs no cluster, so it stands in ```sh local blocks; across the
// guide, the patches are applied in the stage list's order.
func patchesRule(g *Guide) []Problem {
	cmds, ps := commands(g, "plain")
	for _, c := range cmds {
		if gitApply.MatchString(strings.Join(c.Args, " ")) {
			ps = append(ps, Problem{c.Page, c.Line, "git apply runs without a cluster: put it in a ```sh local block"})
		}
	}
	order := g.Repo.Stages.Patches()
	var seen []string
	for _, p := range g.Pages {
		for _, b := range p.Blocks {
			for _, l := range b.Lines {
				patches, reverse := applied(l.Text)
				for i, patch := range patches {
					at := slices.Index(order, patch)
					if reverse[i] || at < 0 {
						continue
					}
					for _, s := range seen {
						if slices.Index(order, s) > at {
							ps = append(ps, Problem{p.Name, l.N, fmt.Sprintf("labs/%s is applied after labs/%s: stage order is %s",
								patch, s, strings.Join(order, ", "))})
							break
						}
					}
					seen = append(seen, patch)
				}
			}
		}
	}
	return ps
}

func TestPagesPatches(t *testing.T) {
	testRule(t, patchesRule, []broken{
		{"git apply in a plain block", "docker compose --profile tools build loader\n",
			"docker compose --profile tools build loader\ngit apply labs/beth-0.3.patch\n", "put it in a ```sh local"},
	})
	t.Run("out of stage order, across pages", func(t *testing.T) {
		mustFail(t, patchesRule(guideOf(t,
			"labs/a.md", "```sh local\ngit apply labs/beth-0.3.patch\n```\n",
			"labs/b.md", "```sh local\ngit apply labs/beth-0.2.patch\n```\n")), "stage order is")
	})
}

// guideRule: labs/README.md links every page, and every file of deployments/, istio/,
// istio/gateway-api/ and every labs/*.patch is used by some page (deployments/ with -k).
func guideRule(g *Guide) []Problem {
	var ps []Problem
	var index *Page
	var all strings.Builder
	for _, p := range g.Pages {
		if p.Name == "labs/README.md" {
			index = p
		}
		all.WriteString(p.Text)
	}
	used := all.String()
	if index == nil {
		return []Problem{{"labs/README.md", 1, "no index page"}}
	}
	for _, p := range g.Pages {
		if base := filepath.Base(p.Name); p != index && !strings.Contains(index.Text, "]("+base+")") {
			ps = append(ps, Problem{index.Name, 1, "does not link " + base})
		}
	}
	var files []string
	for _, pattern := range []string{"istio/*.yaml", "istio/gateway-api/*.yaml", "deployments/*.yaml", "labs/*.patch"} {
		m, _ := filepath.Glob(filepath.Join(g.Repo.Root, pattern))
		files = append(files, m...)
	}
	for _, f := range files {
		rel, _ := filepath.Rel(g.Repo.Root, f)
		if rel == "deployments/kustomization.yaml" {
			if !regexp.MustCompile(`-k\s+(\./)?deployments/?(\s|$)`).MatchString(used) {
				ps = append(ps, Problem{index.Name, 1, "no page applies deployments/ with -k"})
			}
		} else if !regexp.MustCompile(`(?:^|[^\w/.-])` + regexp.QuoteMeta(rel) + `(?:$|[^\w.-])`).MatchString(used) {
			ps = append(ps, Problem{index.Name, 1, rel + " is used by no page"})
		}
	}
	return ps
}

func TestPagesGuide(t *testing.T) {
	for _, p := range guideRule(theGuide(t)) {
		t.Error(p)
	}
	for _, c := range []struct{ name, page, old, new, want string }{
		{"a page the index does not link", "labs/README.md", "](troubleshooting.md)", "](troubleshooting.html)", "does not link troubleshooting.md"},
		{"a file no page uses", "*", "deployments/curl.yaml", "deployments/curl.yml", "deployments/curl.yaml is used by no page"},
		{"a patch no page uses", "labs/08-wrap-up.md", "labs/aleph-0.3.patch", "labs/aleph-0.3.diff", "labs/aleph-0.3.patch is used by no page"},
		{"deployments/ never applied with -k", "*", "-k deployments/", "-k deployments/base/", "no page applies deployments/ with -k"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := theGuide(t) // c.page ("*": every page) with c.old replaced
			changed := false
			for i, p := range g.Pages {
				if (p.Name == c.page || c.page == "*") && strings.Contains(p.Text, c.old) {
					g.Pages[i] = ParsePage(p.Name, strings.ReplaceAll(p.Text, c.old, c.new))
					changed = true
				}
			}
			if !changed {
				t.Fatalf("%s has no %q", c.page, c.old)
			}
			mustFail(t, guideRule(g), c.want)
		})
	}
	t.Run("the pages' own files", func(t *testing.T) {
		// Read in this order: README.md, the stages, then the pages beside them.
		pages, err := ReadPages(root)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range pages {
			names = append(names, p.Name)
		}
		if len(names) < 2 || names[0] != "labs/README.md" || names[1] != "labs/01-deploy.md" {
			t.Errorf("reading order: %v", names)
		}
	})
}
