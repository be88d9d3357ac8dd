package mesh

import (
	"fmt"
	"sort"
	"strconv"

	"sigs.k8s.io/yaml"
)

// Pod is what a Deployment of the state runs: no kubelet here, so the scenario makes the pods
// the ReplicaSets would, each at a loopback address of its own (127.<block>.1.<n>), where the
// test serves what that pod's image does.
type Pod struct {
	Name, Deployment, IP, Image, ServiceAccount string
	Labels, Annotations                         map[string]string
	Env                                         map[string]string
	Ports                                       map[string]int // container port by name
}

// Pods lists the pods of every Deployment, replicas included, in a stable order.
func (s *State) Pods(block int) []Pod {
	var pods []Pod
	for _, d := range s.Deployments() {
		replicas := 1
		if r, ok := lookup(d.Doc, "spec", "replicas").(float64); ok {
			replicas = int(r)
		} else if r, ok := lookup(d.Doc, "spec", "replicas").(int); ok {
			replicas = r
		}
		tmpl, _ := lookup(d.Doc, "spec", "template").(map[string]any)
		labels := stringMap(lookup(tmpl, "metadata", "labels"))
		annotations := stringMap(lookup(tmpl, "metadata", "annotations"))
		containers, _ := lookup(tmpl, "spec", "containers").([]any)
		main := containers[0].(map[string]any)
		env := map[string]string{}
		for _, e := range asList(main["env"]) {
			m := e.(map[string]any)
			if v, ok := m["value"].(string); ok {
				env[m["name"].(string)] = v
			}
		}
		ports := map[string]int{}
		for _, p := range asList(main["ports"]) {
			m := p.(map[string]any)
			name, _ := m["name"].(string)
			ports[name] = toInt(m["containerPort"])
		}
		for i := 0; i < replicas; i++ {
			pods = append(pods, Pod{
				Name:       fmt.Sprintf("%s-%d", d.Name(), i),
				Deployment: d.Name(),
				IP:         fmt.Sprintf("127.%d.1.%d", block, len(pods)+1),
				Image:      str(main, "image"),
				ServiceAccount: func() string {
					if sa := str(tmpl, "spec", "serviceAccountName"); sa != "" {
						return sa
					}
					return "default"
				}(),
				Labels:      labels,
				Annotations: annotations,
				Env:         env,
				Ports:       ports,
			})
		}
	}
	return pods
}

// SidecarNamespace labels staging as scripts/setup-cluster does for the sidecar stages.
var SidecarNamespace = map[string]string{"istio-injection": "enabled"}

// AmbientNamespace labels staging as labs/ambient.md does: every pod in the ambient mesh, every
// call to a Service through the waypoint `istioctl waypoint apply --enroll-namespace` makes.
var AmbientNamespace = map[string]string{"istio.io/dataplane-mode": "ambient", "istio.io/use-waypoint": "waypoint"}

// KubernetesObjects writes what an API server would hold for the state's pods, as Istio's
// Kubernetes controller reads it: the namespace with its labels, Services with cluster IPs,
// running Pods, and the EndpointSlices of each Service.
func (s *State) KubernetesObjects(pods []Pod, namespaceLabels map[string]string) ([]byte, error) {
	objs := []any{
		map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{
			"name": Namespace, "labels": namespaceLabels}},
	}
	clusterIPs := s.ClusterIPs()
	for _, o := range s.Objects() {
		if o.Kind() != "Service" {
			continue
		}
		svc := deepCopy(o.Doc)
		svc["metadata"].(map[string]any)["namespace"] = Namespace
		spec := svc["spec"].(map[string]any)
		spec["clusterIP"] = clusterIPs[o.Name()]
		objs = append(objs, svc)
		selector := stringMap(spec["selector"])
		var selected []Pod
		for _, pod := range pods {
			if matches(selector, pod.Labels) {
				selected = append(selected, pod)
			}
		}
		var endpoints []any
		var slicePorts []any
		for _, p := range asList(spec["ports"]) {
			port := p.(map[string]any)
			target := toInt(port["targetPort"])
			if name, ok := port["targetPort"].(string); ok && len(selected) > 0 {
				// A named port: the selected pods' container port of that name.
				target = selected[0].Ports[name]
			}
			if target == 0 {
				target = toInt(port["port"])
			}
			slicePorts = append(slicePorts, map[string]any{"name": port["name"], "port": target, "protocol": "TCP"})
		}
		for _, pod := range selected {
			endpoints = append(endpoints, map[string]any{
				"addresses":  []any{pod.IP},
				"conditions": map[string]any{"ready": true},
				"targetRef":  map[string]any{"kind": "Pod", "name": pod.Name, "namespace": Namespace},
			})
		}
		objs = append(objs, map[string]any{
			"apiVersion":  "discovery.k8s.io/v1",
			"kind":        "EndpointSlice",
			"metadata":    map[string]any{"name": o.Name() + "-slice", "namespace": Namespace, "labels": map[string]any{"kubernetes.io/service-name": o.Name()}},
			"addressType": "IPv4",
			"endpoints":   endpoints,
			"ports":       slicePorts,
		})
	}
	for _, pod := range pods {
		var ports []any
		names := make([]string, 0, len(pod.Ports))
		for n := range pod.Ports {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			ports = append(ports, map[string]any{"name": n, "containerPort": pod.Ports[n]})
		}
		objs = append(objs, map[string]any{
			"apiVersion": "v1",
			"kind":       "Pod",
			"metadata": map[string]any{"name": pod.Name, "namespace": Namespace,
				"labels": pod.Labels, "annotations": pod.Annotations},
			"spec": map[string]any{"serviceAccountName": pod.ServiceAccount,
				"containers": []any{map[string]any{"name": pod.Deployment, "image": pod.Image, "ports": ports}}},
			"status": map[string]any{"phase": "Running", "podIP": pod.IP,
				"podIPs":     []any{map[string]any{"ip": pod.IP}},
				"conditions": []any{map[string]any{"type": "Ready", "status": "True"}}},
		})
	}
	var out []byte
	for _, o := range objs {
		b, err := yaml.Marshal(o)
		if err != nil {
			return nil, err
		}
		out = append(out, "---\n"...)
		out = append(out, b...)
	}
	return out, nil
}

// ClusterIPs gives each Service of the state the cluster IP an API server would (10.96.0.n, in
// the order they were applied), by name.
func (s *State) ClusterIPs() map[string]string {
	ips := map[string]string{}
	for _, o := range s.Objects() {
		if o.Kind() == "Service" {
			ips[o.Name()] = fmt.Sprintf("10.96.0.%d", len(ips)+1)
		}
	}
	return ips
}

func matches(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func stringMap(v any) map[string]string {
	out := map[string]string{}
	m, _ := v.(map[string]any)
	for k, x := range m {
		out[k] = fmt.Sprint(x)
	}
	return out
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func toInt(v any) int {
	switch x := v.(type) {
	case float64:
		return int(x)
	case int:
		return x
	case int64:
		return int(x)
	case string:
		n, _ := strconv.Atoi(x)
		return n
	}
	return 0
}
