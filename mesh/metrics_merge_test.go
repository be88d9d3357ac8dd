package mesh

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMetricsScrapedUnderStrict: page 10 and security/strict-mtls.yaml say Prometheus keeps
// scraping the app's metrics under STRICT mTLS because the sidecar injector moves each pod's
// prometheus.io/port to the sidecar's 15020 (outside mTLS), which merges the app's metrics.
// Istio's own injector is the judge: `istioctl kube-inject` with the injector's template, values
// and mesh config that `istioctl install -f cluster/istio.yaml` installs, on deployments/beth.yaml.
func TestMetricsScrapedUnderStrict(t *testing.T) {
	bin, err := istioctl()
	if err != nil {
		t.Fatal(err)
	}
	docs, err := renderInstall()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{}
	for _, d := range docs {
		o := Object{Doc: d}
		if o.Kind() != "ConfigMap" || o.Namespace() != "istio-system" {
			continue
		}
		switch o.Name() {
		case "istio-sidecar-injector":
			files["--injectConfigFile"] = str(d, "data", "config")
			files["--valuesFile"] = str(d, "data", "values")
		case "istio":
			files["--meshConfigFile"] = str(d, "data", "mesh")
		}
	}
	// --revision: without it istioctl asks a cluster for the default revision, and waits.
	args := []string{"kube-inject", "--revision", "default", "-f", filepath.Join(root, "deployments", "beth.yaml")}
	for flag, text := range files {
		file := filepath.Join(dir, strings.TrimPrefix(flag, "--"))
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, flag, file)
	}
	if len(files) != 3 {
		t.Fatalf("istioctl manifest generate: the injector's and the mesh's ConfigMaps: %v", files)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).Output()
	if err != nil {
		t.Fatalf("istioctl %v: %v", args, err)
	}
	injected, err := splitDocs(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range injected {
		o := Object{Doc: d}
		if o.Kind() != "Deployment" {
			continue
		}
		annotations := stringMap(lookup(d, "spec", "template", "metadata", "annotations"))
		if annotations["prometheus.io/port"] != "15020" || annotations["prometheus.io/path"] != "/stats/prometheus" {
			t.Errorf("injected beth's scrape annotations: %v; want port 15020, path /stats/prometheus", annotations)
		}
		var saved string
		for _, c := range asList(lookup(d, "spec", "template", "spec", "containers")) {
			for _, e := range asList(c.(map[string]any)["env"]) {
				if env := e.(map[string]any); env["name"] == "ISTIO_PROMETHEUS_ANNOTATIONS" {
					saved, _ = env["value"].(string)
				}
			}
		}
		var app map[string]string
		if err := json.Unmarshal([]byte(saved), &app); err != nil || app["port"] != "8000" || app["path"] != "/metrics" {
			t.Errorf("the sidecar's ISTIO_PROMETHEUS_ANNOTATIONS: %q; want the app's port 8000 and /metrics", saved)
		}
		t.Logf("%s: prometheus.io/port %s, the app's metrics merged from %s", o.Name(), annotations["prometheus.io/port"], saved)
		says(t, "15020", "labs/10-security.md", "security/strict-mtls.yaml")
		return
	}
	t.Fatal("kube-inject gave no Deployment")
}
