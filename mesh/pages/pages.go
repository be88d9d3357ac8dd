// Package pages reads the lab guide (labs/README.md, labs/NN-*.md, then the other labs/*.md) as
// its tests check it against the repository: the pages' code blocks, the commands in them (read
// by mvdan.cc/sh, a maintained shell parser), and what the pages may name: the Deployments,
// containers and Services of deployments/ and istio/gateway-api/, the Compose services, and the
// images and patches of the stage list (read by mesh.ReadStages, its one reader).
//
// The tests are the rules, one test function per family, each proven to fail on broken pages:
// `cd mesh && go test ./pages`.
package pages

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"alephbeth/mesh"
	"mvdan.cc/sh/v3/syntax"
	"sigs.k8s.io/yaml"
)

// Registry is where the pages push and pull the lab's images.
const Registry = "localhost:32000"

// Problem is one failed rule: labs/<page>:LINE: message.
type Problem struct {
	Page string
	Line int
	Msg  string
}

func (p Problem) String() string { return fmt.Sprintf("%s:%d: %s", p.Page, p.Line, p.Msg) }

// Line is one line of a page, numbered from 1.
type Line struct {
	N    int
	Text string
}

// Block is a fenced code block. Command blocks are ```sh (they need a cluster, Docker or the
// registry) or ```sh local (they need neither: source edits, git, grep).
type Block struct {
	Page  string
	Line  int // the opening fence's
	Info  string
	Kind  string // "plain" for ```sh, "local" for ```sh local, "" for any other block
	Lines []Line // without the fence's indentation
}

// Text is the block's content, as a script.
func (b *Block) Text() string {
	var s strings.Builder
	for _, l := range b.Lines {
		s.WriteString(l.Text + "\n")
	}
	return s.String()
}

// Page is one page of the guide: its blocks, the prose around them, and what is wrong with its
// fences.
type Page struct {
	Name     string // labs/<name>.md
	Text     string
	Blocks   []*Block
	Prose    []Line
	Problems []Problem
}

var (
	fence = regexp.MustCompile("^(\\s*)(`{3,}|~{3,})\\s*([^`]*?)\\s*$")
	// Other names for a shell block: the rules read only ```sh and ```sh local.
	shellInfos = map[string]bool{"bash": true, "shell": true, "console": true, "zsh": true,
		"shell-session": true, "sh-session": true}
)

// ParsePage splits a page into its fenced blocks and its prose.
func ParsePage(name, text string) *Page {
	p := &Page{Name: name, Text: text}
	var block *Block
	var open string
	indent := 0
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		n := i + 1
		m := fence.FindStringSubmatch(line)
		switch {
		case block == nil && m != nil:
			indent, open = len(m[1]), m[2]
			block = &Block{Page: name, Line: n, Info: m[3]}
			words := strings.Fields(m[3])
			switch strings.Join(words, " ") {
			case "sh":
				block.Kind = "plain"
			case "sh local":
				block.Kind = "local"
			}
			if len(words) > 0 && (shellInfos[words[0]] || words[0] == "sh" && block.Kind == "") {
				p.Problems = append(p.Problems, Problem{name, n, fmt.Sprintf(
					"command block fenced ```%s: write ```sh (cluster, Docker) or ```sh local (neither)", m[3])})
			}
		case block == nil:
			p.Prose = append(p.Prose, Line{n, line})
		case m != nil && m[2][0] == open[0] && len(m[2]) >= len(open) && m[3] == "":
			p.Blocks = append(p.Blocks, block)
			block = nil
		default:
			if len(line) >= indent && strings.TrimSpace(line[:indent]) == "" {
				line = line[indent:]
			}
			block.Lines = append(block.Lines, Line{n, line})
		}
	}
	if block != nil {
		p.Problems = append(p.Problems, Problem{name, block.Line, "code block never closed"})
		p.Blocks = append(p.Blocks, block)
	}
	return p
}

// Command is one simple command of a block, wherever it stands (a pipeline, a subshell, a
// command substitution), its words as the shell passes them (an expansion as written).
type Command struct {
	Page string
	Line int               // on the page
	Env  map[string]string // NAME=value before it
	Args []string          // without a leading sudo, env, nohup, exec or command
}

var prefixes = map[string]bool{"sudo": true, "env": true, "nohup": true, "exec": true, "command": true}

// Commands reads a block's commands with a real shell parser.
func (b *Block) Commands() ([]Command, error) {
	file, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(b.Text()), "")
	if err != nil {
		line, msg := b.Line+1, err.Error()
		if pe, ok := err.(syntax.ParseError); ok {
			line, msg = b.Line+int(pe.Pos.Line()), pe.Text
		}
		return nil, Problem{b.Page, line, "cannot read this shell line: " + msg}
	}
	var out []Command
	syntax.Walk(file, func(n syntax.Node) bool {
		call, ok := n.(*syntax.CallExpr)
		if !ok {
			return true
		}
		c := Command{Page: b.Page, Line: b.Line + int(call.Pos().Line()), Env: map[string]string{}}
		for _, a := range call.Assigns {
			c.Env[a.Name.Value] = word(a.Value)
		}
		for _, w := range call.Args {
			c.Args = append(c.Args, word(w))
		}
		for len(c.Args) > 0 {
			if name, value, ok := strings.Cut(c.Args[0], "="); ok && syntax.ValidName(name) {
				c.Env[name] = value
			} else if !prefixes[c.Args[0]] {
				break
			}
			c.Args = c.Args[1:]
		}
		if len(c.Args) > 0 {
			out = append(out, c)
		}
		return true
	})
	return out, nil
}

// Error makes a Problem an error, for Commands.
func (p Problem) Error() string { return p.String() }

// word is a word as the shell passes it: quotes removed, an expansion ($x, $(...)) as written.
func word(w *syntax.Word) string {
	if w == nil {
		return ""
	}
	var s strings.Builder
	var part func(p syntax.WordPart)
	part = func(p syntax.WordPart) {
		switch p := p.(type) {
		case *syntax.Lit:
			s.WriteString(p.Value)
		case *syntax.SglQuoted:
			s.WriteString(p.Value)
		case *syntax.DblQuoted:
			for _, q := range p.Parts {
				part(q)
			}
		default:
			_ = syntax.NewPrinter().Print(&s, p)
		}
	}
	for _, p := range w.Parts {
		part(p)
	}
	return s.String()
}

// Guide is the lab guide in reading order, with the repository it is checked against.
type Guide struct {
	Repo  *Repo
	Pages []*Page
}

var stagePage = regexp.MustCompile(`^[0-9]{2}-`)

// ReadPages reads labs/README.md, then labs/NN-*.md, then the other pages of labs/.
func ReadPages(root string) ([]*Page, error) {
	all, err := filepath.Glob(filepath.Join(root, "labs", "*.md"))
	if err != nil {
		return nil, err
	}
	rank := func(path string) int {
		switch base := filepath.Base(path); {
		case base == "README.md":
			return 0
		case stagePage.MatchString(base):
			return 1
		}
		return 2
	}
	sort.SliceStable(all, func(i, j int) bool {
		if rank(all[i]) != rank(all[j]) {
			return rank(all[i]) < rank(all[j])
		}
		return all[i] < all[j]
	})
	var pages []*Page
	for _, path := range all {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		pages = append(pages, ParsePage("labs/"+filepath.Base(path), string(data)))
	}
	return pages, nil
}

// Repo is what the pages may name.
type Repo struct {
	Root   string
	Stages mesh.Stages
	// Deployments and their containers: deployments/*.yaml's, and the Deployment Istio makes
	// for each Gateway API Gateway of istio/gateway-api/ (<name>-<gatewayClassName>, container
	// istio-proxy), whose Service is of the same name.
	Deployments map[string][]string
	Services    map[string]bool
	Compose     map[string][]string // Compose service: its profiles
	BuildOnly   map[string]bool     // images Compose builds that no stage runs (the builder)
}

// Image matches localhost:32000/NAME[:TAG] where it stands alone (not inside a URL or a path).
var Image = regexp.MustCompile(`(?:^|[^\w./-])` + regexp.QuoteMeta(Registry) + `/([\w.-]+)(?::([\w.-]+))?`)

// ReadRepo reads the names the pages may use.
func ReadRepo(root string) (*Repo, error) {
	stages, err := mesh.ReadStages(root)
	if err != nil {
		return nil, err
	}
	r := &Repo{Root: root, Stages: stages, Deployments: map[string][]string{}, Services: map[string]bool{},
		Compose: map[string][]string{}, BuildOnly: map[string]bool{}}
	for _, dir := range []string{"deployments", "istio/gateway-api"} {
		files, _ := filepath.Glob(filepath.Join(root, dir, "*.yaml"))
		for _, f := range files {
			docs, err := mesh.ReadDocs(root, dir+"/"+filepath.Base(f))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			for _, d := range docs {
				o := mesh.Object{Doc: d}
				switch {
				case dir == "deployments" && o.Kind() == "Deployment":
					var containers []string
					spec, _ := d["spec"].(map[string]any)
					template, _ := spec["template"].(map[string]any)
					podSpec, _ := template["spec"].(map[string]any)
					list, _ := podSpec["containers"].([]any)
					for _, c := range list {
						if c, ok := c.(map[string]any); ok {
							containers = append(containers, fmt.Sprint(c["name"]))
						}
					}
					r.Deployments[o.Name()] = containers
				case dir == "deployments" && o.Kind() == "Service":
					r.Services[o.Name()] = true
				case dir == "istio/gateway-api" && o.Kind() == "Gateway" && o.IsGatewayAPI():
					spec, _ := d["spec"].(map[string]any)
					name := fmt.Sprintf("%s-%v", o.Name(), spec["gatewayClassName"])
					r.Deployments[name] = []string{"istio-proxy"}
					r.Services[name] = true
				}
			}
		}
	}
	data, err := os.ReadFile(filepath.Join(root, "docker-compose.yaml"))
	if err != nil {
		return nil, err
	}
	var compose struct {
		Services map[string]struct {
			Image    string   `json:"image"`
			Profiles []string `json:"profiles"`
		} `json:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		return nil, fmt.Errorf("docker-compose.yaml: %w", err)
	}
	registry := regexp.MustCompile(`\$\{REGISTRY[^}]*\}`)
	for name, s := range compose.Services {
		r.Compose[name] = s.Profiles
		if m := Image.FindStringSubmatch(registry.ReplaceAllString(s.Image, Registry)); m != nil &&
			len(stages.Tags(m[1])) == 0 {
			r.BuildOnly[m[1]] = true
		}
	}
	return r, nil
}

// Exists says whether a repository path (a glob pattern too) names something.
func (r *Repo) Exists(path string) bool {
	path = strings.TrimRight(path, "/")
	if path == "" {
		path = "."
	}
	if strings.ContainsAny(path, "*?[") {
		m, _ := filepath.Glob(filepath.Join(r.Root, path))
		return len(m) > 0
	}
	_, err := os.Stat(filepath.Join(r.Root, path))
	return err == nil
}
