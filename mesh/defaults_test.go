package mesh

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	apiext "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"sigs.k8s.io/yaml"
)

// gatewayCRDs holds the structural schemas of the Gateway API's standard CRDs, at the release
// the pinned Istio builds against (its go.mod's sigs.k8s.io/gateway-api), by "group/version/Kind".
var gatewayCRDs = sync.OnceValues(func() (map[string]*structuralschema.Structural, error) {
	dir, err := goModDir("sigs.k8s.io/gateway-api")
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "config", "crd", "standard", "*.yaml"))
	if err != nil {
		return nil, err
	}
	out := map[string]*structuralschema.Structural{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var crd apiextv1.CustomResourceDefinition
		if err := yaml.Unmarshal(data, &crd); err != nil || crd.Kind != "CustomResourceDefinition" {
			continue
		}
		for _, v := range crd.Spec.Versions {
			if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
				continue
			}
			internal := &apiext.JSONSchemaProps{}
			if err := apiextv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, internal, nil); err != nil {
				return nil, err
			}
			s, err := structuralschema.NewStructural(internal)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			out[crd.Spec.Group+"/"+v.Name+"/"+crd.Spec.Names.Kind] = s
		}
	}
	return out, nil
})

// applyCRDDefaults fills what the API server fills from the CRD's schema (an HTTPRoute match
// without path gets PathPrefix /, a backendRef weight 1 ...), with the API server's own code.
func applyCRDDefaults(doc map[string]any) error {
	crds, err := gatewayCRDs()
	if err != nil {
		return err
	}
	apiVersion, _ := doc["apiVersion"].(string)
	kind, _ := doc["kind"].(string)
	s, ok := crds[apiVersion+"/"+kind]
	if !ok {
		return fmt.Errorf("no CRD for %s %s", apiVersion, kind)
	}
	// The defaulting works on JSON types (int64, not float64).
	var obj any = normalizeNumbers(doc)
	structuraldefaulting.Default(obj, s)
	for k, v := range obj.(map[string]any) {
		doc[k] = v
	}
	return nil
}

func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalizeNumbers(e)
		}
		return x
	case float64:
		if x == float64(int64(x)) {
			return int64(x)
		}
		return x
	}
	return v
}
