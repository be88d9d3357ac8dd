package pages

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// runSetupCluster runs scripts/setup-cluster with args and returns what it printed.
func runSetupCluster(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(root, "scripts", "setup-cluster"), args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestSetupClusterDryRuns: each variant's dry run prints every command a fresh workshop machine
// needs (and none of another variant's); a bad value is refused with a message that says why.
// A dry run needs no cluster, Docker or network.
func TestSetupClusterDryRuns(t *testing.T) {
	pinned := setupPin(t, "ISTIO_VERSION_PINNED")
	gatewayAPI, registry := setupPin(t, "GATEWAY_API_VERSION"), setupPin(t, "REGISTRY_PORT")
	kind, container := setupPin(t, "KIND_CLUSTER"), setupPin(t, "REGISTRY_CONTAINER")
	istio := ".local/istio-" + pinned
	common := []string{
		"releases/download/" + pinned + "/istio-" + pinned + "-", "sha256",
		istio + "/bin/istioctl install -f cluster/istio.yaml -y",
		"kubectl apply -f cluster/telemetry.yaml",
		"gateway-api/releases/download/" + gatewayAPI + "/standard-install.yaml",
		"--from-file=alephbeth-dashboard.json=cluster/alephbeth-dashboard.json",
		"kubectl create namespace " + namespace,
		"kubectl config set-context --current --namespace=" + namespace,
	}
	for _, addon := range setupList(t, "ADDONS") {
		common = append(common, "kubectl apply -f "+istio+"/samples/addons/"+addon+".yaml",
			"kubectl rollout status deployment/"+addon+" -n istio-system")
	}
	kindRegistry := []string{
		"docker run -d --restart=always -p 127.0.0.1:" + registry + ":5000",
		"kind create cluster --name " + kind + " --config cluster/kind.yaml",
		"/etc/containerd/certs.d/localhost:" + registry + "/hosts.toml",
		`[host."http://` + container + `:5000"]`,
		"docker network connect kind " + container,
		"kubectl config use-context kind-" + kind,
	}
	microk8sRegistry := []string{"snap install microk8s --classic --channel=" + setupPin(t, "MICROK8S_CHANNEL"),
		"snap install kubectl --classic", "apt-get install -y docker.io docker-compose-v2",
		"microk8s enable registry", "microk8s enable dns", "kubectl config use-context microk8s"}
	sidecars := []string{"kubectl label namespace " + namespace + " istio-injection=enabled --overwrite"}
	ambient := []string{"--set profile=ambient",
		"kubectl label namespace " + namespace + " istio.io/dataplane-mode=ambient --overwrite",
		"kubectl apply -f cluster/waypoint.yaml -n " + namespace,
		"kubectl label namespace " + namespace + " istio.io/use-waypoint=waypoint --overwrite"}
	noAmbient := []string{"profile=ambient", "cluster/waypoint.yaml"}
	join := slices.Concat[[]string]
	const mirror = "http://10.0.0.5:5000"
	argo := setupPin(t, "ARGO_GATEWAYAPI_PLUGIN_VERSION")

	for _, c := range []struct {
		args         string
		want, refuse []string
	}{
		{"kind", join(common, kindRegistry, sidecars),
			join([]string{"microk8s enable", "certs.d/docker.io", "kubectl patch telemetry mesh-default", "flagger", "argo-rollouts"}, noAmbient)},
		{"microk8s", join(common, microk8sRegistry, sidecars), join([]string{"kind create"}, noAmbient)},
		{"kind --ambient", join(common, kindRegistry, ambient), []string{"microk8s enable", "istio-injection=enabled"}},
		{"microk8s --ambient", join(common, microk8sRegistry, ambient,
			[]string{"values.cni.cniConfDir=/var/snap/microk8s/current/args/cni-network"}),
			[]string{"kind create", "istio-injection=enabled"}},
		{"kind --istio-version 1.29.2", []string{"releases/download/1.29.2/", ".local/istio-1.29.2/bin/istioctl install"}, nil},
		{"kind --mirror " + mirror, []string{"/etc/containerd/certs.d/docker.io/hosts.toml", `[host."` + mirror + `"]`,
			`capabilities = ["pull", "resolve"]`}, nil},
		{"microk8s --mirror " + mirror, []string{"/var/snap/microk8s/current/args/certs.d/docker.io/hosts.toml",
			`[host."` + mirror + `"]`, "snap restart microk8s", `"registry-mirrors": ["` + mirror + `"]`}, nil},
		{"microk8s --reset", join([]string{"kubectl delete namespace " + namespace,
			"kubectl config set-context --current --namespace=" + namespace}, sidecars),
			[]string{"istioctl install", "microk8s enable"}},
		{"kind --canary flagger", []string{"github.com/fluxcd/flagger//kustomize/istio", "ref=" + setupPin(t, "FLAGGER_VERSION")}, nil},
		{"microk8s --canary argo", []string{"kubectl create namespace argo-rollouts",
			"releases/download/" + setupPin(t, "ARGO_ROLLOUTS_VERSION") + "/install.yaml",
			"download/" + argo + "/gatewayapi-plugin-linux-amd64",
			"kubectl apply -f cluster/argo-rollouts-gatewayapi.yaml",
			"kubectl rollout restart deployment/argo-rollouts -n argo-rollouts"}, nil},
		{"kind --tracing zipkin", []string{"kubectl patch telemetry mesh-default", "zipkin.istio-system:9411"}, nil},
	} {
		t.Run(c.args, func(t *testing.T) {
			out, err := runSetupCluster(append(strings.Fields(c.args), "--dry-run")...)
			if err != nil {
				t.Fatalf("scripts/setup-cluster %s --dry-run: %v\n%s", c.args, err, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("the dry run lacks: %s", w)
				}
			}
			for _, r := range c.refuse {
				if strings.Contains(out, r) {
					t.Errorf("the dry run should not have: %s", r)
				}
			}
		})
	}

	// Refused, each saying why: in a real run the preflight stops an Istio the files need not.
	for _, c := range []struct{ args, says string }{
		{"kind --istio-version 1.21.0", "networking.istio.io/v1"},
		{"kind --mirror registry.example --dry-run", "write http://HOST:PORT"},
		{"kind --canary spinnaker --dry-run", "flagger or argo"},
		{"kind --tracing jaeger --dry-run", "otel or zipkin"},
	} {
		out, err := runSetupCluster(strings.Fields(c.args)...)
		if err == nil {
			t.Errorf("scripts/setup-cluster %s was taken", c.args)
		}
		if !strings.Contains(out, c.says) {
			t.Errorf("scripts/setup-cluster %s does not say %q:\n%s", c.args, c.says, out)
		}
	}
}
