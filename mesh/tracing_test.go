package mesh

import (
	"fmt"
	"path/filepath"
	"testing"

	meshconfig "istio.io/api/mesh/v1alpha1"
)

// TestTracingProviders holds cluster/'s tracing together, as Istio reads it: the mesh config
// istioctl renders from cluster/istio.yaml traces, and defines "otel" (OTLP) and "zipkin", each
// at a Service and port of the pinned Istio's Jaeger add-on (its collector's OTLP/gRPC port, its
// Zipkin API); cluster/telemetry.yaml turns on, for every request, only providers it defines.
// (scripts/setup-cluster --tracing zipkin patches the Telemetry's provider to zipkin.)
func TestTracingProviders(t *testing.T) {
	mc, err := meshConfig()
	if err != nil {
		t.Fatal(err)
	}
	if !mc.GetEnableTracing() {
		t.Error("cluster/istio.yaml: the mesh config does not enable tracing")
	}
	dir, err := goModDir("istio.io/istio")
	if err != nil {
		t.Fatal(err)
	}
	jaeger, err := ReadDocs(dir, filepath.Join("samples", "addons", "jaeger.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{} // host:port of the add-on's Services
	for _, d := range jaeger {
		if o := (Object{Doc: d}); o.Kind() == "Service" {
			ports, _ := lookup(d, "spec", "ports").([]any)
			for _, p := range ports {
				port, _ := p.(map[string]any)
				served[fmt.Sprintf("%s.%s.svc.cluster.local:%v", o.Name(), str(d, "metadata", "namespace"), port["port"])] = true
			}
		}
	}
	want := map[string]string{ // provider: its kind, as the pages and setup-cluster name them
		"otel": "opentelemetry", "zipkin": "zipkin"}
	defined := map[string]bool{}
	for _, p := range mc.GetExtensionProviders() {
		var kind, at string
		switch provider := p.GetProvider().(type) {
		case *meshconfig.MeshConfig_ExtensionProvider_Opentelemetry:
			kind, at = "opentelemetry", fmt.Sprintf("%s:%d", provider.Opentelemetry.GetService(), provider.Opentelemetry.GetPort())
		case *meshconfig.MeshConfig_ExtensionProvider_Zipkin:
			kind, at = "zipkin", fmt.Sprintf("%s:%d", provider.Zipkin.GetService(), provider.Zipkin.GetPort())
		default:
			continue
		}
		defined[p.GetName()] = true
		if want[p.GetName()] != kind {
			t.Errorf("provider %s is %s, want %s", p.GetName(), kind, want[p.GetName()])
		}
		if !served[at] {
			t.Errorf("provider %s sends to %s, which the Jaeger add-on does not serve (it serves %v)", p.GetName(), at, served)
		}
	}
	for name := range want {
		if !defined[name] {
			t.Errorf("cluster/istio.yaml defines no tracing provider %s", name)
		}
	}
	telemetry, err := ReadDocs(root, filepath.Join("cluster", "telemetry.yaml"))
	if err != nil || len(telemetry) != 1 {
		t.Fatalf("cluster/telemetry.yaml: %v, %d documents", err, len(telemetry))
	}
	tracing, _ := lookup(telemetry[0], "spec", "tracing").([]any)
	if len(tracing) == 0 {
		t.Fatal("cluster/telemetry.yaml turns no tracing on")
	}
	for _, tr := range tracing {
		tr, _ := tr.(map[string]any)
		if fmt.Sprint(tr["randomSamplingPercentage"]) != "100" {
			t.Errorf("cluster/telemetry.yaml samples %v%% of requests, want 100", tr["randomSamplingPercentage"])
		}
		providers, _ := tr["providers"].([]any)
		for _, p := range providers {
			if name := str(p.(map[string]any), "name"); !defined[name] {
				t.Errorf("cluster/telemetry.yaml turns on provider %q, which cluster/istio.yaml does not define", name)
			}
		}
	}
}
