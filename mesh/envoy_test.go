package mesh

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// What a plain Envoy (not Istio's proxy build) cannot load, dropped from the generated
// configuration and nothing else changed in it:
//   - Istio's own filters (istio.metadata_exchange, istio.stats, istio.alpn, peer metadata):
//     telemetry between sidecars, not routing;
//   - the values Istio's own object factories make in set_filter_state (io.istio.*), which
//     only Istio's own filters read;
//   - the mTLS transport socket between sidecars (tlsMode-istio), whose certificates come over
//     SDS from istio-agent: the pods here are plain HTTP servers, not sidecars, and Istio's
//     plaintext match (tlsMode-disabled) stays. (A waypoint's HBONE has no plaintext way: there
//     the certificates SDS would serve are static secrets of the same names, ambient_test.go.)
//
// What is moved, not changed: the listener Istio generates for port 80 (reached on a pod
// through iptables and the virtual outbound listener) listens on a loopback address of the
// test, its routes inline instead of over RDS, the clusters' endpoints inline instead of EDS.

// isIstioOnly says whether a filter is one of Istio's own, which a plain Envoy lacks.
func isIstioOnly(filter map[string]any) bool {
	name, _ := filter["name"].(string)
	if strings.HasPrefix(name, "istio.") || strings.HasPrefix(name, "istio_") {
		return true
	}
	tc, _ := filter["typed_config"].(map[string]any)
	for _, field := range []string{"@type", "type_url"} {
		t, _ := tc[field].(string)
		if strings.Contains(t, "/istio.") || strings.Contains(t, "/io.istio.") {
			return true
		}
	}
	return false
}

// dropIstioOnly removes Istio's own filters from every filter list below v, and the
// transport socket matches that need Istio's SDS; it returns the names dropped.
func dropIstioOnly(v any, dropped map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch k {
			case "http_filters", "filters", "listener_filters":
				var kept []any
				for _, f := range asList(e) {
					if m, ok := f.(map[string]any); ok && isIstioOnly(m) {
						dropped[m["name"].(string)] = true
						continue
					}
					kept = append(kept, f)
				}
				x[k] = kept
			case "on_request_headers", "on_new_connection":
				// set_filter_state: the values made by Istio's own object factories
				// (istio.hashable_string), read by Istio's own filters.
				var kept []any
				for _, e := range asList(e) {
					m, _ := e.(map[string]any)
					fk, _ := m["factory_key"].(string)
					ok, _ := m["object_key"].(string)
					if strings.HasPrefix(fk, "istio.") || strings.HasPrefix(ok, "io.istio.") {
						dropped["filter state "+ok] = true
						continue
					}
					kept = append(kept, e)
				}
				x[k] = kept
			case "transport_socket_matches":
				var kept []any
				for _, m := range asList(e) {
					if b, _ := json.Marshal(m); bytes.Contains(b, []byte("sds_config")) {
						dropped["transport socket "+m.(map[string]any)["name"].(string)] = true
						continue
					}
					kept = append(kept, m)
				}
				x[k] = kept
			}
			dropIstioOnly(x[k], dropped)
		}
	case []any:
		for _, e := range x {
			dropIstioOnly(e, dropped)
		}
	}
}

// Sidecar is a real Envoy running the configuration Istio generates for one calling pod.
type Sidecar struct {
	*envoyProcess
	Listener string // host:port of the pod's outbound port 80
	client   *http.Client
}

// envoyProcess is a running Envoy: its admin API and what it writes to stdout (the access log
// Istio's mesh config sends to /dev/stdout).
type envoyProcess struct {
	Admin string
	log   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// dropAndLog removes what a plain Envoy cannot load (see above) and says what went.
func dropAndLog(t *testing.T, bootstrap map[string]any) {
	t.Helper()
	dropped := map[string]bool{}
	dropIstioOnly(bootstrap, dropped)
	list := make([]string, 0, len(dropped))
	for d := range dropped {
		list = append(list, d)
	}
	sort.Strings(list)
	t.Logf("dropped (Istio's own, not in a plain Envoy): %s", strings.Join(list, ", "))
}

// runEnvoy starts Envoy on a bootstrap and waits until it is ready.
func runEnvoy(t *testing.T, bootstrap map[string]any, admin string) *envoyProcess {
	t.Helper()
	bin, err := envoy()
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(admin, ":")
	bootstrap["admin"] = map[string]any{"address": map[string]any{"socket_address": map[string]any{"address": host, "port_value": toInt(port)}}}
	cfg, err := json.Marshal(bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	path := writeTemp(t, "envoy.json", cfg)
	ctx, cancel := context.WithCancel(context.Background())
	// The flags Istio's agent starts Envoy with (pkg/envoy/proxy.go): access logs written out
	// every second, not every 10 s. Two worker threads, as a sidecar of the workshop runs:
	// pilot-agent sets concurrency to the sidecar's CPU limit when ProxyConfig has none
	// (pilot/cmd/pilot-agent/config), 2000m in Istio's injection values; each worker has its own
	// connections upstream.
	cmd := exec.CommandContext(ctx, bin, "-c", path, "--drain-strategy", "immediate",
		"--file-flush-interval-msec", "1000", "--disable-hot-restart", "--allow-unknown-static-fields",
		"--concurrency", "2", "--log-level", "error")
	e := &envoyProcess{Admin: admin, log: &syncBuffer{}}
	var stderr syncBuffer
	cmd.Stdout, cmd.Stderr = e.log, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	awaitOK(t, cmd, "http://"+admin+"/ready", 50*time.Millisecond, "Envoy did not become ready", &stderr)
	return e
}

// awaitOK polls url until it answers 200; it fails the test, with the process's output, when
// the process has exited or 20 s have passed.
func awaitOK(t *testing.T, cmd *exec.Cmd, url string, every time.Duration, failure string, output fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			t.Fatalf("%s: %v\n%s", failure, err, output.String())
		}
		time.Sleep(every)
	}
}

// startSidecar loads the caller's generated configuration into Envoy: the outbound listener
// of port 80 on <block>.0.1:15080, the admin API on :15000.
func startSidecar(t *testing.T, g generated, caller Pod, block int, istioBootstrap map[string]any) *Sidecar {
	t.Helper()
	listener, ok := g.Listeners["0.0.0.0_80"]
	if !ok {
		t.Fatalf("Istio generated no listener 0.0.0.0_80 for %s", caller.Name)
	}
	ip := fmt.Sprintf("127.%d.0.1", block)
	listener["address"] = map[string]any{"socket_address": map[string]any{"address": ip, "port_value": 15080}}
	delete(listener, "bind_to_port")
	inlineRoutes(t, listener, g)
	var clusters []any
	for _, n := range sortedKeys(g.Clusters) {
		if strings.HasPrefix(n, "outbound|") || n == "PassthroughCluster" || n == "BlackHoleCluster" {
			clusters = append(clusters, inlineEndpoints(g, n))
		}
	}
	bootstrap := map[string]any{
		"node": map[string]any{
			"id":      "sidecar~" + caller.IP + "~" + caller.Name + "." + Namespace + "~" + Namespace + ".svc.cluster.local",
			"cluster": caller.Deployment + "." + Namespace,
		},
		"static_resources": map[string]any{
			"listeners": []any{listener},
			"clusters":  clusters,
		},
	}
	if sc, ok := istioBootstrap["stats_config"]; ok {
		bootstrap["stats_config"] = sc
	}
	dropAndLog(t, bootstrap)
	return &Sidecar{
		envoyProcess: runEnvoy(t, bootstrap, ip+":15000"),
		Listener:     ip + ":15080",
		client:       &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}},
	}
}

// inlineRoutes puts the route configurations a listener's HTTP connection managers name over
// RDS into them.
func inlineRoutes(t *testing.T, listener map[string]any, g generated) {
	t.Helper()
	for _, chain := range asList(listener["filter_chains"]) {
		for _, f := range asList(chain.(map[string]any)["filters"]) {
			tc, _ := f.(map[string]any)["typed_config"].(map[string]any)
			rds, ok := tc["rds"].(map[string]any)
			if !ok {
				continue
			}
			name, _ := rds["route_config_name"].(string)
			rc, ok := g.Routes[name]
			if !ok {
				t.Fatalf("no route configuration %q", name)
			}
			delete(tc, "rds")
			tc["route_config"] = rc
		}
	}
}

// inlineEndpoints gives an EDS cluster its endpoints in place.
func inlineEndpoints(g generated, name string) map[string]any {
	c := g.Clusters[name]
	if c["type"] == "EDS" {
		delete(c, "eds_cluster_config")
		c["type"] = "STATIC"
		la := g.Endpoints[name]
		if la == nil {
			la = map[string]any{"cluster_name": name}
		}
		c["load_assignment"] = la
	}
	return c
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Answer is what a caller got for one request through its sidecar.
type Answer struct {
	Status   int
	Body     string
	Overflow bool // x-envoy-overloaded: the sidecar refused it (circuit breaker)
	Took     time.Duration
}

// Call sends one request as the app in the calling pod would (http://host/path), through its
// sidecar.
func (s *Sidecar) Call(host, path string, header http.Header, timeout time.Duration) (Answer, error) {
	req, err := http.NewRequest("GET", "http://"+s.Listener+path, nil)
	if err != nil {
		return Answer{}, err
	}
	req.Host = host
	for k, v := range header {
		req.Header[k] = v
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	resp, err := s.client.Do(req.WithContext(ctx))
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return Answer{}, err
	}
	return Answer{Status: resp.StatusCode, Body: string(body), Overflow: resp.Header.Get("x-envoy-overloaded") != "", Took: time.Since(start)}, nil
}

// CallNewConnection is Call on a connection of its own, as a new client would make: the
// listener hands each connection to one of the sidecar's worker threads.
func (s *Sidecar) CallNewConnection(host, path string, timeout time.Duration) (Answer, error) {
	fresh := &Sidecar{envoyProcess: s.envoyProcess, Listener: s.Listener, client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
	return fresh.Call(host, path, nil, timeout)
}

// AccessLog is what the proxy wrote to its access log (Istio's mesh config: /dev/stdout).
func (s *envoyProcess) AccessLog() string { return s.log.String() }

// Stats is `pilot-agent request GET stats`: Envoy's admin /stats.
func (s *envoyProcess) Stats() (string, error) { return s.adminGet("/stats") }

// Clusters is `pilot-agent request GET clusters`.
func (s *envoyProcess) Clusters() (string, error) { return s.adminGet("/clusters") }

func (s *envoyProcess) adminGet(path string) (string, error) {
	resp, err := http.Get("http://" + s.Admin + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
