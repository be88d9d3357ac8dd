package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestStrict runs kubeconform as scripts/validate-manifests does on documents of each family:
// the good ones pass, and every mistake fails with the field named.
func TestStrict(t *testing.T) {
	args, err := Prepare()
	if err != nil {
		t.Fatal(err)
	}
	const route = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: beth}
spec:
  parentRefs: [{group: "", kind: Service, name: beth, port: 80}]
  rules:
    - backendRefs: [{name: beth-v01, port: 80, weight: 99}, {name: beth-v03, port: 80, weight: 1}]
      timeouts: {request: 1s}
`
	const virtualService = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: beth}
spec:
  hosts: [beth]
  http:
    - route:
        - {destination: {host: beth, subset: v01}, weight: 99}
        - {destination: {host: beth, subset: v03}, weight: 1}
      timeout: 1s
`
	const deployment = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: beth, labels: {app: beth}}
spec:
  replicas: 1
  selector: {matchLabels: {app: beth}}
  template:
    metadata: {labels: {app: beth}}
    spec:
      containers:
        - name: beth
          image: localhost:32000/beth:0.1
          imagePullPolicy: Always
          ports: [{name: http, containerPort: 8080}]
          resources: {requests: {cpu: 1, memory: 64Mi}}
`
	const service = `
apiVersion: v1
kind: Service
metadata: {name: beth}
spec:
  selector: {app: beth}
  ports: [{name: http, port: 80, targetPort: http}, {name: http-metrics, port: 8000, targetPort: 8000}]
`
	// x-kubernetes-preserve-unknown-fields: Envoy's own configuration, not Istio's schema.
	const envoyFilter = `
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: raw}
spec:
  configPatches:
    - applyTo: CLUSTER
      patch: {operation: MERGE, value: {anything: {goes: here}}}
`
	const kustomization = `
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [beth.yaml]
`
	for _, c := range []struct {
		name, doc, old, new string
		// want is in kubeconform's output when it fails; "" when it must pass.
		want string
	}{
		{name: "HTTPRoute", doc: route},
		{name: "VirtualService", doc: virtualService},
		{name: "Deployment", doc: deployment},
		{name: "Service", doc: service},
		{name: "EnvoyFilter's raw patch", doc: envoyFilter},
		{name: "Kustomization skipped", doc: kustomization, want: "Skipped: 1"},
		{name: "misspelt HTTPRoute field", doc: route, old: "weight: 99", new: "wieght: 99",
			want: "at '/spec/rules/0/backendRefs/0': additional properties 'wieght' not allowed"},
		{name: "misspelt VirtualService field", doc: virtualService, old: "subset: v03", new: "subsett: v03",
			want: "at '/spec/http/0/route/1/destination': additional properties 'subsett' not allowed"},
		{name: "unknown field in a container", doc: deployment, old: "imagePullPolicy", new: "imagePullPolcy",
			want: "at '/spec/template/spec/containers/0': additional properties 'imagePullPolcy' not allowed"},
		{name: "string for an integer", doc: deployment, old: "replicas: 1", new: `replicas: "1"`,
			want: "at '/spec/replicas': got string, want integer"},
		{name: "misspelt metadata field", doc: service, old: "metadata: {name: beth}", new: "metadata: {name: beth, lables: {}}",
			want: "at '/metadata': additional properties 'lables' not allowed"},
		{name: "misspelt top-level field", doc: service, old: "spec:", new: "sepc:",
			want: "additional properties 'sepc' not allowed"},
		{name: "Gateway API experimental field", doc: route, old: "timeouts: {request: 1s}", new: "retry: {attempts: 2}",
			want: "additional properties 'retry' not allowed"},
		{name: "kind of no schema", doc: service, old: "kind: Service", new: "kind: Servise",
			want: "could not find schema for Servise"},
		{name: "duplicate key", doc: service, old: "  selector:", new: "  type: ClusterIP\n  type: NodePort\n  selector:",
			want: `key "type" already set`},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := c.doc
			if c.old != "" {
				if strings.Count(doc, c.old) != 1 {
					t.Fatalf("%q is not once in the document", c.old)
				}
				doc = strings.Replace(doc, c.old, c.new, 1)
			}
			cmd := exec.Command(args[0], append(args[1:], "-")...)
			cmd.Stdin = strings.NewReader(doc)
			out, err := cmd.CombinedOutput()
			failed := err != nil
			if c.want == "" && failed || c.want != "" && !strings.Contains(string(out), c.want) {
				t.Errorf("kubeconform (failed: %v) said:\n%s\nwanted: %q", failed, out, c.want)
			}
			if c.want != "" && !strings.HasPrefix(c.want, "Skipped") && !failed {
				t.Errorf("kubeconform passed it:\n%s", out)
			}
		})
	}
}
