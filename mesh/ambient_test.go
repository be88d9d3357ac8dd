package mesh

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"istio.io/api/label"
	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pkg/config/constants"
)

// The ambient page's steps: the Gateway API way's, routed by the namespace's waypoint, with
// what differs there (nil: the same check as with sidecars).
var ambientSteps = map[string]func(*testing.T, *Mesh){
	"first stage": nil, "mirror": nil,
	"canary": nil, "canary-10": nil, "canary-50": nil, "canary-100": nil, "0.1 retired": nil,
	"timeout": nil, "aleph 0.2 mirrored": nil, "aleph 0.3 mirrored": nil,
	"aleph-canary-20": nil, "aleph-canary-60": nil, "aleph-canary-100": nil,
	"dark launch": func(t *testing.T, m *Mesh) {
		darkLaunch("beth", "0.1", "0.3")(t, m)
		waypointLogNames(t, m, "beth-v01", "beth-v03")
	},
	// The waypoint's pool is one for all callers; its counters, kept by cluster/waypoint.yaml's
	// annotation, are the ones the ambient page greps.
	"circuit breaker": circuitBreaker("beth-v01"),
}

// waypointLogNames: the waypoint's access log names the Service each call went to, as
// labs/ambient.md says it does.
func waypointLogNames(t *testing.T, m *Mesh, services ...string) {
	for _, s := range services {
		cluster := "inbound-vip|80|http|" + s + ".staging.svc.cluster.local"
		// Envoy writes its access log out once a second.
		if !waitFor(t, "line naming "+cluster+" in the waypoint's access log", func() bool {
			return strings.Contains(m.AccessLog(), " "+cluster+" ")
		}) {
			t.Logf("the waypoint's access log:\n%s", m.AccessLog())
		}
		if s == services[0] && promisedAnywhere(t, cluster) != "labs/ambient.md" {
			t.Errorf("labs/ambient.md does not show the waypoint's log naming %s", cluster)
		}
	}
}

// waypointPod is the pod Istio deploys from cluster/waypoint.yaml's Gateway (at <block>.2.1),
// with the Gateway's spec.infrastructure.annotations, as Istio's deployment controller gives them
// (pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go).
func waypointPod(t *testing.T, block int) (Pod, map[string]any) {
	t.Helper()
	docs, err := ReadDocs(root, "cluster/waypoint.yaml")
	if err != nil || len(docs) != 1 {
		t.Fatalf("cluster/waypoint.yaml: %v", err)
	}
	gw := docs[0]
	return Pod{
		Name: "waypoint-0", Deployment: "waypoint", ServiceAccount: "waypoint",
		IP:          fmt.Sprintf("127.%d.2.1", block),
		Labels:      map[string]string{label.IoK8sNetworkingGatewayGatewayName.Name: "waypoint", label.GatewayManaged.Name: constants.ManagedGatewayMeshControllerLabel},
		Annotations: stringMap(lookup(gw, "spec", "infrastructure", "annotations")),
	}, gw
}

// waypointObjects is what the API server holds once cluster/waypoint.yaml is applied: the
// Gateway (its status as Istio sets it), and the Deployment's pod and the Service Istio makes.
func waypointObjects(t *testing.T, block int) string {
	t.Helper()
	pod, gw := waypointPod(t, block)
	gw["metadata"].(map[string]any)["namespace"] = Namespace
	gw["status"] = map[string]any{"addresses": []any{map[string]any{"type": "Hostname", "value": "waypoint.staging.svc.cluster.local"}}}
	if err := applyCRDDefaults(gw); err != nil {
		t.Fatal(err)
	}
	gateway, err := json.Marshal(gw)
	if err != nil {
		t.Fatal(err)
	}
	annotations, err := json.Marshal(pod.Annotations)
	if err != nil {
		t.Fatal(err)
	}
	return "---\n" + string(gateway) + `
---
apiVersion: v1
kind: Service
metadata:
  name: waypoint
  namespace: staging
  labels:
    gateway.istio.io/managed: istio.io-mesh-controller
    gateway.networking.k8s.io/gateway-name: waypoint
spec:
  clusterIP: 10.96.1.1
  ports:
  - appProtocol: hbone
    name: mesh
    port: 15008
  selector:
    gateway.networking.k8s.io/gateway-name: waypoint
---
apiVersion: v1
kind: Pod
metadata:
  name: waypoint-0
  namespace: staging
  labels:
    gateway.networking.k8s.io/gateway-name: waypoint
    gateway.istio.io/managed: istio.io-mesh-controller
  annotations: ` + string(annotations) + `
spec:
  serviceAccountName: waypoint
  containers: [{name: istio-proxy, image: istio/proxyv2}]
status:
  phase: Running
  podIP: ` + pod.IP + `
  podIPs: [{ip: ` + pod.IP + `}]
  conditions: [{type: Ready, status: "True"}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: waypoint-slice
  namespace: staging
  labels:
    kubernetes.io/service-name: waypoint
addressType: IPv4
endpoints:
- addresses: [` + pod.IP + `]
  conditions: {ready: true}
  targetRef: {kind: Pod, name: waypoint-0, namespace: staging}
ports:
- name: mesh
  port: 15008
`
}

// generateWaypoint runs Istio's pilot on the state in ambient mode and returns what it would push
// to the waypoint.
func generateWaypoint(t *testing.T, s *State, pods []Pod, block int) generated {
	t.Helper()
	for i := range pods {
		// What Istio's CNI agent marks on a pod it has put in the ambient mesh.
		pods[i].Annotations = map[string]string{"ambient.istio.io/redirection": "enabled"}
	}
	mc, err := ambientMeshConfig()
	if err != nil {
		t.Fatal(err)
	}
	return generateFor(t, s, pods, mc, AmbientNamespace, waypointObjects(t, block), &model.Proxy{
		Type:            model.Waypoint,
		ID:              "waypoint-0." + Namespace,
		ConfigNamespace: Namespace,
		Labels: map[string]string{
			label.IoK8sNetworkingGatewayGatewayName.Name: "waypoint",
			label.GatewayManaged.Name:                    constants.ManagedGatewayMeshControllerLabel,
		},
		IPAddresses: []string{fmt.Sprintf("127.%d.2.1", block)},
		Metadata:    &model.NodeMetadata{Namespace: Namespace, IstioVersion: "1.31.0", WorkloadName: "waypoint"},
	})
}

// staticSecrets serves the certificates SDS would (istio-agent) as static secrets of the same
// names: every SDS secret reference loses its sds_config and names the bootstrap's secret.
func staticSecrets(v any) {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["sds_config"]; ok {
			if _, named := x["name"]; named {
				delete(x, "sds_config")
			}
		}
		for _, e := range x {
			staticSecrets(e)
		}
	case []any:
		for _, e := range x {
			staticSecrets(e)
		}
	}
}

// startWaypoint loads the waypoint's generated configuration into Envoy: HBONE in on
// <block>.0.1:15008, the admin API on :15000.
func startWaypoint(t *testing.T, g generated, p *pki, block int) *envoyProcess {
	t.Helper()
	ip := fmt.Sprintf("127.%d.0.1", block)
	var listeners []any
	for _, n := range sortedKeys(g.Listeners) {
		l := g.Listeners[n]
		if n == "connect_terminate" {
			l["address"] = map[string]any{"socket_address": map[string]any{"address": ip, "port_value": 15008}}
		}
		inlineRoutes(t, l, g)
		listeners = append(listeners, l)
	}
	var clusters []any
	for _, n := range sortedKeys(g.Clusters) {
		clusters = append(clusters, inlineEndpoints(g, n))
	}
	certPEM, keyPEM, _ := p.workload(t, "waypoint")
	pod, _ := waypointPod(t, block)
	istio, err := istioBootstrap(pod)
	if err != nil {
		t.Fatal(err)
	}
	bootstrap := map[string]any{
		"node": map[string]any{"id": "waypoint~127." + fmt.Sprint(block) + ".2.1~waypoint-0.staging~staging.svc.cluster.local", "cluster": "waypoint.staging"},
		// Istio's bootstrap template turns internal listeners on, which the waypoint's
		// main_internal and connect_originate are.
		"bootstrap_extensions": []any{map[string]any{
			"name":         "envoy.bootstrap.internal_listener",
			"typed_config": map[string]any{"@type": "type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener", "buffer_size_kb": 64},
		}},
		// Which counters the waypoint keeps: its pod's proxy.istio.io/config, through Istio's
		// bootstrap, as for a sidecar.
		"stats_config": istio["stats_config"],
		"static_resources": map[string]any{
			"listeners": listeners,
			"clusters":  clusters,
			"secrets":   p.secrets(certPEM, keyPEM),
		},
	}
	staticSecrets(bootstrap)
	dropAndLog(t, bootstrap)
	return runEnvoy(t, bootstrap, ip+":15000")
}

// Istio reads PILOT_ENABLE_AMBIENT once, when its packages load: the ambient steps run in a test
// process of their own that has it.
func TestAmbientLabTraffic(t *testing.T) {
	if os.Getenv("PILOT_ENABLE_AMBIENT") != "true" {
		args := []string{"-test.run=^TestAmbientLabTraffic$", "-test.count=1", "-test.timeout=20m"}
		if testing.Verbose() {
			args = append(args, "-test.v")
		}
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), "PILOT_ENABLE_AMBIENT=true")
		out, err := cmd.CombinedOutput()
		report := istioLogLine.ReplaceAllString(string(out), "")
		if err != nil {
			t.Fatalf("the ambient steps:\n%s", report)
		}
		if testing.Verbose() {
			t.Log(report)
		}
		return
	}
	runSteps(t, "gateway-api", func(st step) func(*testing.T, *Mesh) {
		check, ok := ambientSteps[st.name]
		if ok && check == nil {
			return st.check
		}
		return check
	}, func(t *testing.T, s *State, pods []Pod, caller Pod, block int, apps map[string]*AppPod) Proxy {
		p := newPKI(t)
		for _, pod := range pods {
			if _, ok := apps[pod.Name]; ok {
				startHBONE(t, p, pod)
			}
		}
		waypoint := startWaypoint(t, generateWaypoint(t, s, pods, block), p, block)
		return newZtunnel(t, p, caller, waypoint, fmt.Sprintf("127.%d.0.1:15008", block), s.ClusterIPs())
	})
}

// istioLogLine matches the log lines of Istio's packages, noise in a test's report.
var istioLogLine = regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\S+\s.*\n`)
