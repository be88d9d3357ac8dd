package mesh

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	meshconfig "istio.io/api/mesh/v1alpha1"
	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config"
)

// generated is what istiod would push to one calling sidecar in staging: its listeners,
// routes, clusters and endpoints, each as Envoy's JSON.
type generated struct {
	Listeners, Routes, Clusters, Endpoints map[string]map[string]any
}

// generate runs Istio's pilot (its fake discovery server: Istio's own config generation over
// a fake Kubernetes client) on the state and returns what it would push to the caller pod's
// sidecar.
func generate(t *testing.T, s *State, pods []Pod, caller Pod) generated {
	t.Helper()
	mc, err := meshConfig()
	if err != nil {
		t.Fatal(err)
	}
	return generateFor(t, s, pods, mc, SidecarNamespace, "", &model.Proxy{
		ID:              caller.Name + "." + Namespace,
		IPAddresses:     []string{caller.IP},
		Labels:          caller.Labels,
		ConfigNamespace: Namespace,
		Metadata: &model.NodeMetadata{
			Namespace:    Namespace,
			Labels:       caller.Labels,
			IstioVersion: "1.31.0",
			WorkloadName: caller.Deployment,
		},
	})
}

// generateFor runs pilot on the state (the namespace labelled so, more Kubernetes objects
// beside it) and returns what it would push to the proxy.
func generateFor(t *testing.T, s *State, pods []Pod, mc *meshconfig.MeshConfig, namespaceLabels map[string]string, moreKube string, p *model.Proxy) generated {
	t.Helper()
	kube, err := s.KubernetesObjects(pods, namespaceLabels)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gatewayAPIObjects(s)
	if err != nil {
		t.Fatal(err)
	}
	configs, err := istioConfigs(s)
	if err != nil {
		t.Fatal(err)
	}
	fake := xds.NewFakeDiscoveryServer(t, xds.FakeOptions{
		KubernetesObjectString: string(kube) + string(gw) + moreKube,
		Configs:                configs,
		MeshConfig:             mc,
	})
	proxy := fake.SetupProxy(p)
	g := generated{
		Listeners: map[string]map[string]any{}, Routes: map[string]map[string]any{},
		Clusters: map[string]map[string]any{}, Endpoints: map[string]map[string]any{},
	}
	for _, l := range fake.Listeners(proxy) {
		g.Listeners[l.GetName()] = toJSON(t, l)
	}
	for _, r := range fake.Routes(proxy) {
		g.Routes[r.GetName()] = toJSON(t, r)
	}
	for _, c := range fake.Clusters(proxy) {
		g.Clusters[c.GetName()] = toJSON(t, c)
	}
	for _, e := range fake.Endpoints(proxy) {
		g.Endpoints[e.GetClusterName()] = toJSON(t, e)
	}
	return g
}

func toJSON(t *testing.T, m proto.Message) map[string]any {
	t.Helper()
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// istioConfigs parses the state's Istio objects as istiod receives them from the API server:
// in their namespace, with the cluster's domain (the fake leaves the domain empty, and then
// `host: beth` would not mean beth.staging.svc.cluster.local).
func istioConfigs(s *State) ([]config.Config, error) {
	configs, _, err := crd.ParseInputs(string(s.YAML(Object.IsIstio)))
	if err != nil {
		return nil, err
	}
	for i := range configs {
		if configs[i].Namespace == "" {
			configs[i].Namespace = Namespace
		}
		configs[i].Domain = "cluster.local"
	}
	return configs, nil
}

// gatewayAPIObjects gives the Gateway API objects to the fake's Kubernetes client (Istio's
// gateway controller reads them there), filled with their CRDs' defaults as the API server
// fills them before Istio sees them.
func gatewayAPIObjects(s *State) ([]byte, error) {
	var out []byte
	for _, o := range s.Objects() {
		if !o.IsGatewayAPI() {
			continue
		}
		doc := deepCopy(o.Doc)
		doc["metadata"].(map[string]any)["namespace"] = o.Namespace()
		if err := applyCRDDefaults(doc); err != nil {
			return nil, err
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return nil, err
		}
		out = append(out, "---\n"...)
		out = append(out, b...)
		out = append(out, '\n')
	}
	return out, nil
}

// writeTemp writes a file into the test's temporary folder.
func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// goModDir is where Go's module cache holds a module of this one's build, asked once per module
// (every step's bootstrap reads Istio's template from there).
func goModDir(module string) (string, error) {
	modDirsMu.Lock()
	defer modDirsMu.Unlock()
	if dir, ok := modDirs[module]; ok {
		return dir, nil
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", module, err)
	}
	modDirs[module] = strings.TrimSpace(string(out))
	return modDirs[module], nil
}

var (
	modDirsMu sync.Mutex
	modDirs   = map[string]string{}
)
