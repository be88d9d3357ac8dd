package mesh

import (
	"encoding/json"
	"fmt"
	meshconfig "istio.io/api/mesh/v1alpha1"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"istio.io/istio/pkg/util/protomarshal"
)

// explained lists the istioctl analyze findings that stay, each explained by a comment in the
// file it concerns (which must name its code): "CODE Kind namespace/name".
var explained = map[string]string{
	"IST0133 AuthorizationPolicy staging/waypoint-device-writes-need-a-token": "security/ambient/tokens.yaml",
}

// finding is one message of `istioctl analyze -o json`.
type finding struct {
	Code    string `json:"code"`
	Level   string `json:"level"`
	Origin  string `json:"origin"`
	Message string `json:"message"`
}

// cluster is what scripts/setup-cluster leaves beside the app: the staging namespace with
// sidecar injection on, and the mesh-wide Telemetry of cluster/.
const clusterFiles = "cluster/telemetry.yaml"

// TestIstioctlAnalyze runs Istio's own analyzers (istioctl analyze, files only) on the state each
// lab step leaves, for both ways, with the mesh configuration the kit installs.
func TestIstioctlAnalyze(t *testing.T) {
	bin, err := istioctl()
	if err != nil {
		t.Fatal(err)
	}
	mc, err := meshConfig()
	if err != nil {
		t.Fatal(err)
	}
	meshYAML, err := protomarshal.ToYAML(mc)
	if err != nil {
		t.Fatal(err)
	}
	meshFile := writeTemp(t, "mesh.yaml", []byte(meshYAML))
	namespace := []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: staging\n  labels:\n    istio-injection: enabled\n")
	seen := map[string]bool{}
	for _, api := range []string{"istio", "gateway-api"} {
		steps, snapshots := states(t, api)
		for i, st := range steps {
			s := snapshots[i].Clone()
			if err := s.Kubectl(apply(clusterFiles)); err != nil {
				t.Fatal(err)
			}
			state := append(append([]byte{}, namespace...), s.YAML(nil)...)
			key := string(state)
			if seen[key] {
				continue
			}
			seen[key] = true
			name := fmt.Sprintf("%s/%s %v", api, st.page, st.commands)
			findings, err := analyze(bin, meshFile, state)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, f := range findings {
				if _, ok := explained[f.Code+" "+f.Origin]; ok {
					continue
				}
				t.Errorf("%s: %s %s %s: %s", name, f.Level, f.Code, f.Origin, f.Message)
			}
		}
	}
	t.Logf("istioctl analyze: %d distinct states", len(seen))
}

// TestIstioctlAnalyzeSecurity: stage 10's files, as page 10 applies them on the app, in sidecar
// mode and in ambient mode (with the waypoint and the ambient profile's mesh configuration).
func TestIstioctlAnalyzeSecurity(t *testing.T) {
	bin, err := istioctl()
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []struct {
		name   string
		labels []string // staging's, as setup-cluster labels it
		mesh   func() (*meshconfig.MeshConfig, error)
		files  []string
	}{
		{"sidecars", []string{"istio-injection: enabled"}, meshConfig, []string{"security/strict-mtls.yaml",
			"security/callers.yaml", "security/request-authentication.yaml", "security/device-writes.yaml",
			"security/device-deletes.yaml"}},
		{"ambient", []string{"istio.io/dataplane-mode: ambient", "istio.io/use-waypoint: waypoint"}, ambientMeshConfig,
			[]string{"cluster/waypoint.yaml", "security/strict-mtls.yaml", "security/ambient/metrics-permissive.yaml",
				"security/ambient/callers.yaml", "security/ambient/tokens.yaml"}},
	} {
		mc, err := mode.mesh()
		if err != nil {
			t.Fatal(err)
		}
		meshYAML, err := protomarshal.ToYAML(mc)
		if err != nil {
			t.Fatal(err)
		}
		s := NewState(root)
		for _, c := range []string{"kubectl apply -k deployments/ -n staging", apply(clusterFiles), apply(mode.files...)} {
			if err := s.Kubectl(c); err != nil {
				t.Fatal(err)
			}
		}
		namespace := "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: staging\n  labels:\n    " +
			strings.Join(mode.labels, "\n    ") + "\n"
		state := append([]byte(namespace), s.YAML(nil)...)
		findings, err := analyze(bin, writeTemp(t, mode.name+"-mesh.yaml", []byte(meshYAML)), state)
		if err != nil {
			t.Fatalf("%s: %v", mode.name, err)
		}
		for _, f := range findings {
			if _, ok := explained[f.Code+" "+f.Origin]; !ok {
				t.Errorf("%s: %s %s %s: %s", mode.name, f.Level, f.Code, f.Origin, f.Message)
			}
		}
		t.Logf("%s: %d findings, all explained", mode.name, len(findings))
	}
}

// The findings left alone are explained where they occur.
func TestExplainedFindingsAreCommented(t *testing.T) {
	for key, file := range explained {
		code := strings.Fields(key)[0]
		data, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "# istioctl analyze: "+code) {
			t.Errorf("%s: no comment `# istioctl analyze: %s` explaining %s", file, code, key)
		}
	}
}

func analyze(bin, meshFile string, state []byte) ([]finding, error) {
	dir, err := os.MkdirTemp("", "analyze")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "state.yaml")
	if err := os.WriteFile(file, state, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "analyze", "--use-kube=false", "--all-namespaces", "--output", "json",
		"--output-threshold", "Info", "--failure-threshold", "Error", "--meshConfigFile", meshFile, file)
	out, err := cmd.Output()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok || len(out) == 0 {
			return nil, fmt.Errorf("istioctl analyze: %w\n%s", err, out)
		}
	}
	var findings []finding
	if err := json.Unmarshal(out, &findings); err != nil {
		return nil, fmt.Errorf("istioctl analyze -o json: %w: %s", err, out)
	}
	return findings, nil
}
