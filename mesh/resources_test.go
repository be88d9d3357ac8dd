package mesh

import (
	"path/filepath"
	"testing"

	"alephbeth/mesh/internal/tools"

	"k8s.io/apimachinery/pkg/api/resource"
)

// The workshop's smallest VM (labs/README.md): 2 vCPUs, 8 GiB. Kubernetes itself (MicroK8s'
// calico, CoreDNS, its registry and storage add-ons, the kubelet's reserve) is given this much
// of it; the rest is what the pods' requests may add up to before one stays Pending.
var (
	smallVMCPU    = resource.MustParse("2")
	smallVMMemory = resource.MustParse("8Gi")
	kubeCPU       = resource.MustParse("750m")
	kubeMemory    = resource.MustParse("1536Mi")
)

// requests adds up the containers' requests of every workload in docs, replicas included; it
// also counts the pods (a sidecar or none is added per pod by the caller).
func requests(docs []map[string]any) (cpu, memory resource.Quantity, pods int) {
	for _, d := range docs {
		kind := str(d, "kind")
		if kind != "Deployment" && kind != "DaemonSet" && kind != "StatefulSet" {
			continue
		}
		replicas := 1 // a DaemonSet: one node
		if r := lookup(d, "spec", "replicas"); r != nil {
			replicas = toInt(r)
		}
		for _, c := range asList(lookup(d, "spec", "template", "spec", "containers")) {
			req, _ := lookup(c.(map[string]any), "resources", "requests").(map[string]any)
			for i := 0; i < replicas; i++ {
				if v, ok := req["cpu"]; ok {
					cpu.Add(resource.MustParse(toString(v)))
				}
				if v, ok := req["memory"]; ok {
					memory.Add(resource.MustParse(toString(v)))
				}
			}
		}
		pods += replicas
	}
	return cpu, memory, pods
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return resource.NewMilliQuantity(int64(x*1000), resource.DecimalSI).String()
	}
	return ""
}

// TestSmallVMFits adds up what every pod asks for at the labs' busiest moment — the Istio the
// set-up installs (cluster/istio.yaml, demo or ambient profile), the four add-ons, every
// Deployment of deployments/ with aleph at 3 replicas (stage 7), each pod's sidecar (or, in
// ambient mode, the waypoint, and the sidecars again after "Back to sidecars") and the Gateway
// API's gateway — and holds it within a 2-vCPU, 8 GiB VM.
func TestSmallVMFits(t *testing.T) {
	dir, err := goModDir("istio.io/istio")
	if err != nil {
		t.Fatal(err)
	}
	var addons []map[string]any
	addonNames, err := tools.SetupList(root, "ADDONS")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addonNames {
		docs, err := ReadDocs(dir, filepath.Join("samples", "addons", a+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		addons = append(addons, docs...)
	}
	app := NewState(root)
	for _, c := range []string{"kubectl apply -k deployments/ -n staging",
		apply("deployments/beth-v03.yaml", "deployments/loader.yaml", "deployments/curl.yaml",
			"deployments/aleph-v02.yaml", "deployments/aleph-v03.yaml"),
		"kubectl scale deploy/aleph --replicas=3 -n staging"} {
		if err := app.Kubectl(c); err != nil {
			t.Fatal(err)
		}
	}
	var appDocs []map[string]any
	for _, o := range app.Objects() {
		appDocs = append(appDocs, o.Doc)
	}
	appCPU, appMemory, appPods := requests(appDocs)
	addonCPU, addonMemory, _ := requests(addons)
	budgetCPU, budgetMemory := smallVMCPU.DeepCopy(), smallVMMemory.DeepCopy()
	budgetCPU.Sub(kubeCPU)
	budgetMemory.Sub(kubeMemory)
	for _, profile := range []struct {
		name  string
		flags []string
	}{{"demo", nil}, {"ambient", []string{"--set", "profile=ambient"}}} {
		istio, err := renderInstall(profile.flags...)
		if err != nil {
			t.Fatal(err)
		}
		cpu, memory, _ := requests(istio)
		proxyCPU, proxyMemory := proxyRequests(t, istio)
		cpu.Add(addonCPU)
		memory.Add(addonMemory)
		cpu.Add(appCPU)
		memory.Add(appMemory)
		// A proxy per app pod (sidecars; in ambient mode after "Back to sidecars"), and the
		// Gateway API's gateway and the waypoint, proxies of the same size.
		for i := 0; i < appPods+2; i++ {
			cpu.Add(proxyCPU)
			memory.Add(proxyMemory)
		}
		t.Logf("%s: requests %s CPU, %s memory (%d app pods); the pods may ask %s CPU, %s",
			profile.name, cpu.String(), memory.String(), appPods, budgetCPU.String(), budgetMemory.String())
		if cpu.Cmp(budgetCPU) > 0 || memory.Cmp(budgetMemory) > 0 {
			t.Errorf("%s profile: the pods ask %s CPU and %s memory, more than a 2-vCPU, 8 GiB VM leaves them (%s, %s)",
				profile.name, cpu.String(), memory.String(), budgetCPU.String(), budgetMemory.String())
		}
	}
}

// proxyRequests reads a sidecar's (and gateway's, waypoint's) requests from the injector's values.
func proxyRequests(t *testing.T, istio []map[string]any) (cpu, memory resource.Quantity) {
	t.Helper()
	for _, d := range istio {
		if str(d, "kind") == "ConfigMap" && str(d, "metadata", "name") == "istio-sidecar-injector" {
			values, err := splitDocs([]byte(str(d, "data", "values")))
			if err != nil || len(values) != 1 {
				t.Fatalf("the injector's values: %v", err)
			}
			req, _ := lookup(values[0], "global", "proxy", "resources", "requests").(map[string]any)
			return resource.MustParse(toString(req["cpu"])), resource.MustParse(toString(req["memory"]))
		}
	}
	t.Fatal("no istio-sidecar-injector ConfigMap")
	return
}
