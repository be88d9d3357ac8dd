// Command schemas prepares kubeconform to validate the project's manifests strictly, as
// `kubectl apply` does by default (an unknown field fails), and prints its command line, one
// argument a line, for scripts/validate-manifests to run with the files or folders to check. Run
// it in mesh/ (`go run ./cmd/schemas`): it reads mesh/go.mod's pins.
//
// It builds kubeconform (KubeconformVersion, with `go install`) into .local/bin once per pin
// (.local/bin/kubeconform.pin), and generates JSON Schemas into .local/schemas/<pins>/ once per
// set of pins, from these published releases (Go modules, from Go's module cache or the Go module
// proxy):
//   - Kubernetes' own kinds: the OpenAPI v3 documents of k8s.io/kubernetes@KubernetesVersion
//     (api/openapi-spec/v3/), one self-contained schema for each group, version and kind;
//   - Istio's CRDs: manifests/charts/base/files/crd-all.gen.yaml of the istio.io/istio that
//     mesh/go.mod pins;
//   - the Gateway API's standard CRDs: config/crd/standard/ of sigs.k8s.io/gateway-api at the
//     GATEWAY_API_VERSION of scripts/setup-cluster (the CRDs the workshop's cluster gets);
//   - the automated canaries' controllers (stage 9): Flagger's artifacts/flagger/crd.yaml of
//     github.com/fluxcd/flagger at FLAGGER_VERSION, and Argo Rollouts' manifests/crds/ of
//     github.com/argoproj/argo-rollouts at ARGO_ROLLOUTS_VERSION (both of scripts/setup-cluster).
//
// A CRD's schema is each served version's openAPIV3Schema, with apiVersion, kind and Kubernetes'
// ObjectMeta as metadata (what the API server adds). Every schema object that lists properties
// gets `additionalProperties: false` unless it says otherwise or sets
// x-kubernetes-preserve-unknown-fields (kubeconform's openapi2jsonschema with strict on, and the
// root as well); OpenAPI's `nullable` becomes a "null" type, x-kubernetes-int-or-string an anyOf
// of integer and string. Files are laid out as kubeconform's
// {{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json (apiVersion v1: v1/<kind>_v1.json).
//
// Not checked: istioctl's IstioOperator (cluster/istio.yaml: no schema is published for it;
// mesh/'s `istioctl manifest generate` reads it), and the input files of kustomize and kind.
// CEL rules (x-kubernetes-validations) are not JSON Schema: kubeconform does not run them.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"alephbeth/mesh/internal/tools"

	"sigs.k8s.io/yaml"
)

const (
	// KubeconformVersion is the kubeconform release that validates.
	KubeconformVersion = "v0.8.0"
	// KubernetesVersion is the release whose built-in kinds apply: the newest 1.35 the Go module
	// proxy serves.
	KubernetesVersion = "v1.35.4"
	// generation names this program's way of converting: change it when the conversion changes,
	// so that schemas generated before are made anew.
	generation = "2"
)

// Skipped are kinds of tools' input files, not objects of a cluster, that have no schema:
// kustomize's build instructions, kind's cluster and istioctl's IstioOperator.
var Skipped = []string{
	"kustomize.config.k8s.io/v1beta1/Kustomization",
	"kind.x-k8s.io/v1alpha4/Cluster",
	"install.istio.io/v1alpha1/IstioOperator",
}

// Layout is where kubeconform finds a kind's schema under the schemas' folder.
const Layout = "{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"

func main() {
	args, err := Prepare()
	if err != nil {
		fmt.Fprintln(os.Stderr, "schemas:", err)
		os.Exit(2)
	}
	fmt.Println(strings.Join(args, "\n"))
}

// root is the repository's top folder: the parent of this module's (mesh/).
func root() (string, error) {
	gomod, err := goOutput(".", "env", "GOMOD")
	if err != nil {
		return "", err
	}
	return filepath.Dir(filepath.Dir(strings.TrimSpace(gomod))), nil
}

// Prepare builds kubeconform and generates the schemas where needed, and returns kubeconform's
// command line without the files to check.
func Prepare() ([]string, error) {
	top, err := root()
	if err != nil {
		return nil, err
	}
	bin, err := kubeconform(top)
	if err != nil {
		return nil, err
	}
	dir, err := Schemas(top)
	if err != nil {
		return nil, err
	}
	// Manifests are YAML: kubeconform would read JSON too (cluster/ holds a Grafana dashboard).
	return []string{bin, "-strict", "-summary", "-schema-location", filepath.Join(dir, Layout),
		"-skip", strings.Join(Skipped, ","), "-ignore-filename-pattern", `\.json$`}, nil
}

// kubeconform builds kubeconform into .local/bin, once per KubeconformVersion.
func kubeconform(top string) (string, error) {
	bin := filepath.Join(top, ".local", "bin", "kubeconform")
	if built, err := os.ReadFile(bin + ".pin"); err == nil && string(built) == KubeconformVersion {
		if _, err := os.Stat(bin); err == nil {
			return bin, nil
		}
	}
	fmt.Fprintf(os.Stderr, "schemas: building kubeconform %s into %s\n", KubeconformVersion, filepath.Dir(bin))
	cmd := exec.Command("go", "install", "github.com/yannh/kubeconform/cmd/kubeconform@"+KubeconformVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+filepath.Dir(bin))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building kubeconform: %w", err)
	}
	return bin, os.WriteFile(bin+".pin", []byte(KubeconformVersion), 0o644)
}

// Schemas returns the folder of the schemas of the current pins, generating it first if needed.
func Schemas(top string) (string, error) {
	// In this module, `go mod download` fetches the istio.io/istio that go.mod pins, if needed.
	istio, err := download(".", "istio.io/istio")
	if err != nil {
		return "", err
	}
	pins := map[string]string{}
	for _, name := range []string{"GATEWAY_API_VERSION", "FLAGGER_VERSION", "ARGO_ROLLOUTS_VERSION"} {
		if pins[name], err = tools.SetupValue(top, name); err != nil {
			return "", err
		}
	}
	gatewayVersion := pins["GATEWAY_API_VERSION"]
	dir := filepath.Join(top, ".local", "schemas", fmt.Sprintf("kubernetes-%s_istio-%s_gateway-api-%s_flagger-%s_argo-rollouts-%s_%s",
		KubernetesVersion, istio["istio.io/istio"].Version, gatewayVersion, pins["FLAGGER_VERSION"],
		pins["ARGO_ROLLOUTS_VERSION"], generation))
	if _, err := os.Stat(dir); err == nil {
		return dir, nil
	}
	fmt.Fprintf(os.Stderr, "schemas: generating %s\n", dir)
	// Outside any module, it fetches exactly these.
	dirs, err := download(os.TempDir(), "k8s.io/kubernetes@"+KubernetesVersion, "sigs.k8s.io/gateway-api@"+gatewayVersion,
		"github.com/fluxcd/flagger@"+pins["FLAGGER_VERSION"], "github.com/argoproj/argo-rollouts@"+pins["ARGO_ROLLOUTS_VERSION"])
	if err != nil {
		return "", err
	}
	out := map[string]map[string]any{}
	meta, err := builtin(filepath.Join(dirs["k8s.io/kubernetes"].Dir, "api", "openapi-spec", "v3"), out)
	if err != nil {
		return "", err
	}
	gateway, _ := filepath.Glob(filepath.Join(dirs["sigs.k8s.io/gateway-api"].Dir, "config", "crd", "standard", "*.yaml"))
	if len(gateway) == 0 {
		return "", fmt.Errorf("no CRDs in %s/config/crd/standard/", dirs["sigs.k8s.io/gateway-api"].Dir)
	}
	istioCRDs := filepath.Join(istio["istio.io/istio"].Dir, "manifests", "charts", "base", "files", "crd-all.gen.yaml")
	flagger := filepath.Join(dirs["github.com/fluxcd/flagger"].Dir, "artifacts", "flagger", "crd.yaml")
	argo, _ := filepath.Glob(filepath.Join(dirs["github.com/argoproj/argo-rollouts"].Dir, "manifests", "crds", "*-crd.yaml"))
	if len(argo) == 0 {
		return "", fmt.Errorf("no CRDs in %s/manifests/crds/", dirs["github.com/argoproj/argo-rollouts"].Dir)
	}
	files := append(append(gateway, istioCRDs, flagger), argo...)
	for _, file := range files {
		if err := crds(file, meta, out); err != nil {
			return "", fmt.Errorf("%s: %w", file, err)
		}
	}
	if err := write(dir, out); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "schemas: %d schemas generated\n", len(out))
	return dir, nil
}

// module is one that `go mod download -json` fetched.
type module struct{ Path, Version, Dir, Error string }

// download returns these modules (path@version, or path: the version the module in dir requires)
// by path, with their folders in Go's module cache, fetching them from the Go module proxy if
// they are not there yet.
func download(dir string, modules ...string) (map[string]module, error) {
	listed, err := goOutput(dir, append([]string{"mod", "download", "-json"}, modules...)...)
	if err != nil {
		return nil, err
	}
	found := map[string]module{}
	for d := json.NewDecoder(strings.NewReader(listed)); d.More(); {
		var m module
		if err := d.Decode(&m); err != nil {
			return nil, err
		}
		if m.Error != "" {
			return nil, fmt.Errorf("go mod download %s: %s", m.Path, m.Error)
		}
		found[m.Path] = m
	}
	return found, nil
}

// write makes dir, with out's schemas as files (by their names in Layout), at once: it is
// written beside under another name, then renamed. Other pins' folders beside it go.
func write(dir string, out map[string]map[string]any) error {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, ".generating-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for name, schema := range out {
		data, err := json.Marshal(schema)
		if err == nil {
			err = os.MkdirAll(filepath.Dir(filepath.Join(tmp, name)), 0o755)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(tmp, name), data, 0o644)
		}
		if err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, statErr := os.Stat(dir); statErr != nil { // not made meanwhile by another run
			return err
		}
	}
	old, _ := filepath.Glob(filepath.Join(parent, "kubernetes-*"))
	for _, o := range old {
		if o != dir {
			os.RemoveAll(o)
		}
	}
	return nil
}

func goOutput(dir string, args ...string) (string, error) {
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}

// fileName is the kind's schema file in Layout. kubeconform's Group of apiVersion v1 is "v1".
func fileName(group, version, kind string) string {
	if group == "" {
		group = version
	}
	return filepath.Join(group, strings.ToLower(kind)+"_"+version+".json")
}

const objectMeta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

// builtin adds a schema for each group, version and kind that Kubernetes' OpenAPI v3 documents
// (one per group and version) define, and returns the definitions ObjectMeta needs, for the CRDs.
func builtin(specDir string, out map[string]map[string]any) (map[string]any, error) {
	files, err := filepath.Glob(filepath.Join(specDir, "*_openapi.json"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no OpenAPI documents in %s (%v)", specDir, err)
	}
	var meta map[string]any
	for _, file := range files {
		// api__v1_openapi.json, apis__apps__v1_openapi.json: the document of one group and version.
		parts := strings.Split(strings.TrimSuffix(filepath.Base(file), "_openapi.json"), "__")
		var group, version string
		switch {
		case len(parts) == 2 && parts[0] == "api":
			version = parts[1]
		case len(parts) == 3 && parts[0] == "apis":
			group, version = parts[1], parts[2]
		default:
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		var doc struct {
			Components struct{ Schemas map[string]any }
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		defs := doc.Components.Schemas
		if group == "" {
			meta = closure(defs, objectMeta)
		}
		for name, def := range defs {
			gvks, _ := def.(map[string]any)["x-kubernetes-group-version-kind"].([]any)
			for _, g := range gvks {
				gvk, _ := g.(map[string]any)
				// A kind of this document's own group and version (meta's kinds, such as
				// DeleteOptions, list every group).
				if gvk["group"] != group || gvk["version"] != version {
					continue
				}
				need := closure(defs, name)
				schema := copyOf(need[name].(map[string]any))
				schema["definitions"] = need
				strict(schema)
				out[fileName(group, version, gvk["kind"].(string))] = schema
			}
		}
	}
	if meta == nil {
		return nil, fmt.Errorf("no %s in %s", objectMeta, specDir)
	}
	return meta, nil
}

// closure is the definitions that name needs (name's too), with their references rewritten for
// a JSON Schema that holds them under definitions.
func closure(defs map[string]any, name string) map[string]any {
	need := map[string]any{}
	var visit func(string)
	visit = func(n string) {
		if _, done := need[n]; done {
			return
		}
		def := copyOf(defs[n].(map[string]any))
		need[n] = def
		walk(def, func(s map[string]any) {
			// {allOf: [{$ref: X}], default, description}: OpenAPI's way to annotate a reference.
			// As {$ref: X} it checks the same, and kubeconform's messages skip an "allOf failed".
			if all, _ := s["allOf"].([]any); len(all) == 1 {
				if only, _ := all[0].(map[string]any); len(only) == 1 && only["$ref"] != nil {
					clear(s)
					s["$ref"] = only["$ref"]
				}
			}
			if ref, ok := s["$ref"].(string); ok {
				target := strings.TrimPrefix(ref, "#/components/schemas/")
				s["$ref"] = "#/definitions/" + target
				visit(target)
			}
		})
	}
	visit(name)
	return need
}

// crds adds a schema for each served version of each CustomResourceDefinition in file.
func crds(file string, meta map[string]any, out map[string]map[string]any) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	for _, part := range bytes.Split(data, []byte("\n---")) {
		var crd struct {
			Kind string
			Spec struct {
				Group string
				Names struct{ Kind string }
				// Schema's openAPIV3Schema stays a map: it is the schema.
				Versions []struct {
					Name   string
					Served bool
					Schema struct {
						OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
					}
				}
			}
		}
		if err := yaml.Unmarshal(part, &crd); err != nil {
			return err
		}
		if crd.Kind != "CustomResourceDefinition" {
			continue
		}
		for _, v := range crd.Spec.Versions {
			schema := v.Schema.OpenAPIV3Schema
			if !v.Served || schema == nil {
				continue
			}
			props, _ := schema["properties"].(map[string]any)
			if props == nil {
				props = map[string]any{}
				schema["properties"] = props
			}
			props["apiVersion"] = map[string]any{"type": "string"}
			props["kind"] = map[string]any{"type": "string"}
			props["metadata"] = map[string]any{"$ref": "#/definitions/" + objectMeta}
			schema["definitions"] = copyOf(meta)
			strict(schema)
			out[fileName(crd.Spec.Group, v.Name, crd.Spec.Names.Kind)] = schema
		}
	}
	return nil
}

// strict makes a schema refuse unknown fields, and turns OpenAPI's words into JSON Schema's.
func strict(schema map[string]any) {
	walk(schema, func(s map[string]any) {
		_, hasProps := s["properties"]
		_, hasAdditional := s["additionalProperties"]
		if hasProps && !hasAdditional && s["x-kubernetes-preserve-unknown-fields"] != true {
			s["additionalProperties"] = false
		}
		if s["nullable"] == true {
			if t, ok := s["type"].(string); ok {
				s["type"] = []any{t, "null"}
			}
			delete(s, "nullable")
		}
		if s["x-kubernetes-int-or-string"] == true && s["anyOf"] == nil && s["oneOf"] == nil {
			delete(s, "type")
			s["anyOf"] = []any{map[string]any{"type": "integer"}, map[string]any{"type": "string"}}
		}
	})
}

// walk calls f on schema and on every schema inside it (not on the names of properties).
func walk(schema map[string]any, f func(map[string]any)) {
	f(schema)
	each := func(v any) {
		if s, ok := v.(map[string]any); ok {
			walk(s, f)
		}
	}
	for _, key := range []string{"items", "additionalProperties", "not"} {
		each(schema[key])
	}
	for _, key := range []string{"allOf", "anyOf", "oneOf"} {
		list, _ := schema[key].([]any)
		for _, s := range list {
			each(s)
		}
	}
	for _, key := range []string{"properties", "definitions"} {
		m, _ := schema[key].(map[string]any)
		for _, s := range m {
			each(s)
		}
	}
}

func copyOf[T any](v T) T {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var c T
	if err := json.Unmarshal(data, &c); err != nil {
		panic(err)
	}
	return c
}
