package mesh

import (
	"alephbeth/mesh/internal/tools"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"sigs.k8s.io/yaml"
)

// TestAutopilotTemplates: stage 9's measures, run by a real Prometheus (Debian's) scraping a stub
// exporter of Istio-shaped metrics: Flagger's MetricTemplates rendered as Flagger renders them
// (Go templates with its functions namespace, target, interval...; missing keys fail) and judged
// by the thresholds of autopilot/flagger/aleph-canary.yaml, and Argo Rollouts' AnalysisTemplate
// with its arguments filled in, judged by its successConditions; each one value, as the
// controllers take it (none, or NaN, is "no values found"). A canary answering 50% 500s (aleph
// 0.2, reported by sidecars) fails; one answering none (aleph 0.3, reported by a waypoint)
// passes; one without traffic gets a value from every query and fails by the requests measure.
func TestAutopilotTemplates(t *testing.T) {
	prometheus, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("no prometheus: apt-get install prometheus")
	}
	queries := metricTemplates(t)
	thresholds := canaryThresholds(t)
	// The Gateway API's Canary judges alike: its analysis is the Istio one's.
	analysis := func(file string) string {
		var canary struct{ Spec struct{ Analysis any } }
		readAutopilot(t, "flagger/"+file, &canary)
		out, _ := json.Marshal(canary.Spec.Analysis)
		return string(out)
	}
	if a, b := analysis("aleph-canary.yaml"), analysis("gateway-api/aleph-canary.yaml"); a != b {
		t.Errorf("the two Canaries analyse differently:\n%s\n%s", a, b)
	}
	// So do the two Rollouts: the same steps, the same Services; only the traffic router differs.
	rollout := func(file string) string {
		var rollout struct {
			Spec struct {
				Strategy struct{ Canary map[string]any }
			}
		}
		readAutopilotKind(t, "argo/"+file, "Rollout", &rollout)
		delete(rollout.Spec.Strategy.Canary, "trafficRouting")
		out, _ := json.Marshal(rollout.Spec)
		return string(out)
	}
	if a, b := rollout("aleph-rollout.yaml"), rollout("gateway-api/aleph-rollout.yaml"); a != b {
		t.Errorf("the two Rollouts differ beyond their traffic router:\n%s\n%s", a, b)
	}

	// Istio's series for three canaries, counting up from the start at 20 requests/s each.
	started := time.Now()
	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		seconds := time.Since(started).Seconds()
		var b strings.Builder
		series := func(reporter, canary, code string, perSecond float64) {
			labels := fmt.Sprintf(`reporter=%q,destination_workload_namespace="staging",destination_workload=%q,`+
				`destination_service_namespace="staging",destination_service_name=%q`, reporter, canary, canary)
			fmt.Fprintf(&b, "istio_requests_total{%s,response_code=%q} %f\n", labels, code, perSecond*seconds)
			// Every request within 5 ms (the buckets Istio uses start at 0.5, 1, 5, 10 ... ms).
			for _, le := range []string{"1", "5", "10", "500", "+Inf"} {
				count := perSecond * seconds
				if le == "1" {
					count = 0
				}
				fmt.Fprintf(&b, "istio_request_duration_milliseconds_bucket{%s,response_code=%q,le=%q} %f\n", labels, code, le, count)
			}
		}
		// Sidecars: the callee's (destination) and the caller's (source) report each request.
		for _, reporter := range []string{"destination", "source"} {
			series(reporter, "aleph-broken", "200", 10)
			series(reporter, "aleph-broken", "500", 10)
		}
		// Ambient: the waypoint alone.
		series("waypoint", "aleph-good", "200", 20)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, b.String())
	}))
	defer exporter.Close()

	dir := t.TempDir()
	config := fmt.Sprintf("global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: istio\n    static_configs:\n      - targets: [%q]\n",
		strings.TrimPrefix(exporter.URL, "http://"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	port := tools.FreePort(t)
	cmd := exec.Command(prometheus, "--config.file="+filepath.Join(dir, "prometheus.yaml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	api := fmt.Sprintf("http://127.0.0.1:%d/api/v1/query", port)
	// Scraped for longer than the window the templates are rendered with.
	const window = "10s"
	time.Sleep(13 * time.Second)

	cases := []struct {
		canary string
		passes bool
	}{{"aleph-broken", false}, {"aleph-good", true}, {"aleph-idle", false}}
	judge := func(controller, canary string, measures map[string]measure, want bool) {
		passed := true
		var seen []string
		for name, m := range measures {
			value, err := instant(api, m.query)
			if err != nil {
				t.Fatalf("%s, %s, %s: %v (the controller would halt: no values found)\n%s", controller, canary, name, err, m.query)
			}
			ok := m.passes(value)
			passed = passed && ok
			seen = append(seen, fmt.Sprintf("%s=%.1f(%v)", name, value, ok))
		}
		t.Logf("%s, %s: %s", controller, canary, strings.Join(seen, " "))
		if passed != want {
			t.Errorf("%s, %s: the analysis passes=%v, want %v: %s", controller, canary, passed, want, strings.Join(seen, " "))
		}
	}
	for _, c := range cases {
		flagger := map[string]measure{}
		for name, b := range thresholds {
			query := render(t, queries[name], map[string]string{
				"name": "aleph", "namespace": "staging", "target": c.canary, "service": "aleph",
				"ingress": "", "route": "", "interval": window,
			})
			flagger[name] = measure{query, b.passes}
		}
		judge("Flagger", c.canary, flagger, c.passes)
		judge("Argo Rollouts", c.canary, analysisTemplate(t, map[string]string{
			"namespace": "staging", "canary-service": c.canary}, window), c.passes)
	}
}

// measure is one query and the condition its value must meet.
type measure struct {
	query  string
	passes func(float64) bool
}

func (b bounds) passes(value float64) bool {
	return (b.Min == nil || value >= *b.Min) && (b.Max == nil || value <= *b.Max)
}

// analysisTemplate reads autopilot/argo/analysis-template.yaml's Prometheus metrics, with
// Argo's {{args.NAME}} filled in and each [30s] window made `window`, and their
// successCondition, which must be `result[0] <= N` or `result[0] >= N`.
func analysisTemplate(t *testing.T, args map[string]string, window string) map[string]measure {
	t.Helper()
	var template struct {
		Spec struct {
			Metrics []struct {
				Name             string
				SuccessCondition string `json:"successCondition"`
				Provider         struct {
					Prometheus *struct{ Query string }
				}
			}
		}
	}
	readAutopilot(t, "argo/analysis-template.yaml", &template)
	out := map[string]measure{}
	for _, m := range template.Spec.Metrics {
		if m.Provider.Prometheus == nil {
			continue
		}
		query := strings.ReplaceAll(m.Provider.Prometheus.Query, "[30s]", "["+window+"]")
		for name, value := range args {
			query = strings.ReplaceAll(query, "{{args."+name+"}}", value)
		}
		if strings.Contains(query, "{{") {
			t.Fatalf("%s: an argument not filled in: %s", m.Name, query)
		}
		fields := strings.Fields(m.SuccessCondition)
		if len(fields) != 3 || fields[0] != "result[0]" {
			t.Fatalf("%s: successCondition %q is not result[0] <= N or >= N", m.Name, m.SuccessCondition)
		}
		limit, err := strconv.ParseFloat(fields[2], 64)
		if err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		switch fields[1] {
		case "<=":
			out[m.Name] = measure{query, func(v float64) bool { return v <= limit }}
		case ">=":
			out[m.Name] = measure{query, func(v float64) bool { return v >= limit }}
		default:
			t.Fatalf("%s: successCondition %q", m.Name, m.SuccessCondition)
		}
	}
	if len(out) != 3 {
		t.Fatalf("the AnalysisTemplate's Prometheus metrics: %d", len(out))
	}
	return out
}

// readAutopilot unmarshals the YAML of autopilot/<file> (one document) into out.
func readAutopilot(t *testing.T, file string, out any) {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(root, "autopilot", file))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(text, out); err != nil {
		t.Fatalf("autopilot/%s: %v", file, err)
	}
}

// readAutopilotKind unmarshals the document of autopilot/<file> whose kind is kind into out.
func readAutopilotKind(t *testing.T, file, kind string, out any) {
	t.Helper()
	for _, doc := range autopilotDocuments(t, file) {
		var head struct{ Kind string }
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatalf("autopilot/%s: %v", file, err)
		}
		if head.Kind == kind {
			if err := yaml.Unmarshal(doc, out); err != nil {
				t.Fatalf("autopilot/%s: %v", file, err)
			}
			return
		}
	}
	t.Fatalf("autopilot/%s: no %s", file, kind)
}

// autopilotDocuments reads autopilot/<file>: its YAML documents.
func autopilotDocuments(t *testing.T, file string) [][]byte {
	t.Helper()
	text, err := os.ReadFile(filepath.Join(root, "autopilot", file))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(text, []byte("\n---\n"))
}

// metricTemplates reads autopilot/flagger/metric-templates.yaml: query by template name.
func metricTemplates(t *testing.T) map[string]string {
	t.Helper()
	queries := map[string]string{}
	for _, doc := range autopilotDocuments(t, "flagger/metric-templates.yaml") {
		var m struct {
			Kind     string
			Metadata struct{ Name string }
			Spec     struct{ Query string }
		}
		if err := yaml.Unmarshal(doc, &m); err != nil {
			t.Fatal(err)
		}
		if m.Kind == "MetricTemplate" {
			queries[m.Metadata.Name] = m.Spec.Query
		}
	}
	return queries
}

type bounds struct{ Min, Max *float64 }

// canaryThresholds reads autopilot/flagger/aleph-canary.yaml: each metric's template and range.
func canaryThresholds(t *testing.T) map[string]bounds {
	t.Helper()
	var canary struct {
		Spec struct {
			Analysis struct {
				Metrics []struct {
					TemplateRef    struct{ Name string } `json:"templateRef"`
					ThresholdRange bounds                `json:"thresholdRange"`
				}
			}
		}
	}
	readAutopilot(t, "flagger/aleph-canary.yaml", &canary)
	out := map[string]bounds{}
	for _, m := range canary.Spec.Analysis.Metrics {
		out[m.TemplateRef.Name] = m.ThresholdRange
	}
	if len(out) != 3 {
		t.Fatalf("the Canary's metrics: %v", out)
	}
	return out
}

// render is Flagger's RenderQuery (pkg/metrics/observers/render.go): no data, only functions.
func render(t *testing.T, query string, model map[string]string) string {
	t.Helper()
	funcs := template.FuncMap{}
	for name, value := range model {
		funcs[name] = func() string { return value }
	}
	tmpl, err := template.New("tmpl").Option("missingkey=error").Funcs(funcs).Parse(query)
	if err != nil {
		t.Fatalf("template: %v", err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, nil); err != nil {
		t.Fatalf("template: %v", err)
	}
	return out.String()
}

// instant is Flagger's PrometheusProvider.RunQuery: one value, NaN or none an error.
func instant(api, query string) (float64, error) {
	answer, err := http.Get(api + "?query=" + url.QueryEscape(query))
	if err != nil {
		return 0, err
	}
	defer answer.Body.Close()
	var body struct {
		Status string
		Error  string
		Data   struct {
			Result []struct {
				Value []any
			}
		}
	}
	if err := json.NewDecoder(answer.Body).Decode(&body); err != nil {
		return 0, err
	}
	if body.Status != "success" {
		return 0, fmt.Errorf("prometheus: %s", body.Error)
	}
	if len(body.Data.Result) != 1 {
		return 0, fmt.Errorf("%d values", len(body.Data.Result))
	}
	text, _ := body.Data.Result[0].Value[1].(string)
	value, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsNaN(value) {
		return 0, fmt.Errorf("value %q", text)
	}
	return value, nil
}
