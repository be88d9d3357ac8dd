package mesh

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Namespace is where every page applies the app (`-n staging`).
const Namespace = "staging"

// GatewayAPIGroup is the Gateway API's group (apiVersion gateway.networking.k8s.io/v1).
const GatewayAPIGroup = "gateway.networking.k8s.io"

// Object is one Kubernetes object as a page leaves it in the cluster, with the file it came from.
type Object struct {
	Doc    map[string]any
	Source string // repository-relative path
}

func (o Object) Kind() string { return str(o.Doc, "kind") }
func (o Object) Name() string { return str(o.Doc, "metadata", "name") }
func (o Object) Namespace() string {
	if ns := str(o.Doc, "metadata", "namespace"); ns != "" {
		return ns
	}
	return Namespace
}
func (o Object) key() string { return o.Kind() + "/" + o.Namespace() + "/" + o.Name() }

// IsGatewayAPI says whether the object is one of the Gateway API's kinds.
func (o Object) IsGatewayAPI() bool {
	return strings.HasPrefix(str(o.Doc, "apiVersion"), GatewayAPIGroup+"/")
}

// IsIstio says whether the object is one of Istio's own kinds.
func (o Object) IsIstio() bool {
	return strings.Contains(str(o.Doc, "apiVersion"), ".istio.io/")
}

// State is the cluster as the commands of the pages leave it: objects by kind, namespace and
// name (a later apply replaces an earlier object), the order of first apply kept.
type State struct {
	Root    string
	order   []string
	objects map[string]Object
}

func NewState(root string) *State { return &State{Root: root, objects: map[string]Object{}} }

// Clone copies the state, so one step's checks never see the next step's changes.
func (s *State) Clone() *State {
	c := NewState(s.Root)
	c.order = append(c.order, s.order...)
	for k, o := range s.objects {
		c.objects[k] = Object{Doc: deepCopy(o.Doc), Source: o.Source}
	}
	return c
}

// Objects lists the objects in the order they were first applied.
func (s *State) Objects() []Object {
	out := make([]Object, 0, len(s.order))
	for _, k := range s.order {
		if o, ok := s.objects[k]; ok {
			out = append(out, o)
		}
	}
	return out
}

// Get finds an object by kind and name in the staging namespace.
func (s *State) Get(kind, name string) (Object, bool) {
	o, ok := s.objects[kind+"/"+Namespace+"/"+name]
	return o, ok
}

func (s *State) put(o Object) {
	k := o.key()
	if _, ok := s.objects[k]; !ok {
		s.order = append(s.order, k)
	}
	s.objects[k] = o
}

func (s *State) remove(kind, name string) error {
	k := kind + "/" + Namespace + "/" + name
	if _, ok := s.objects[k]; !ok {
		return fmt.Errorf("%s %q not found", kind, name)
	}
	delete(s.objects, k)
	for i, o := range s.order {
		if o == k {
			s.order = append(s.order[:i:i], s.order[i+1:]...)
			break
		}
	}
	return nil
}

// ReadDocs reads the YAML documents of a repository file.
func ReadDocs(root, rel string) ([]map[string]any, error) {
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		return nil, err
	}
	return splitDocs(data)
}

func splitDocs(data []byte) ([]map[string]any, error) {
	var docs []map[string]any
	for _, part := range bytes.Split(data, []byte("\n---")) {
		var doc map[string]any
		if err := yaml.Unmarshal(part, &doc); err != nil {
			return nil, err
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	return docs, nil
}

// Kustomize renders a kustomization as `kubectl apply -k` does, with kustomize's own code.
func Kustomize(root, rel string) ([]map[string]any, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(root, rel))
	if err != nil {
		return nil, err
	}
	out, err := m.AsYaml()
	if err != nil {
		return nil, err
	}
	return splitDocs(out)
}

// YAML writes the state as one multi-document file, every object in staging unless it names
// its own namespace (as `kubectl apply -n staging` does).
func (s *State) YAML(keep func(Object) bool) []byte {
	var b bytes.Buffer
	for _, o := range s.Objects() {
		if keep != nil && !keep(o) {
			continue
		}
		doc := deepCopy(o.Doc)
		meta, _ := doc["metadata"].(map[string]any)
		meta["namespace"] = o.Namespace()
		out, err := yaml.Marshal(doc)
		if err != nil {
			panic(err) // it was unmarshalled from YAML a moment ago
		}
		b.WriteString("---\n")
		b.Write(out)
	}
	return b.Bytes()
}

// Deployments lists the Deployments of the state by name.
func (s *State) Deployments() []Object {
	var out []Object
	for _, o := range s.Objects() {
		if o.Kind() == "Deployment" {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

func str(doc map[string]any, path ...string) string {
	v := lookup(doc, path...)
	s, _ := v.(string)
	return s
}

func lookup(doc map[string]any, path ...string) any {
	var cur any = doc
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

func deepCopy(doc map[string]any) map[string]any {
	out, err := yaml.Marshal(doc)
	if err != nil {
		panic(err)
	}
	var c map[string]any
	if err := yaml.Unmarshal(out, &c); err != nil {
		panic(err)
	}
	return c
}
