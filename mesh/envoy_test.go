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
//   - the mTLS transport socket between sidecars (tlsMode-istio), whose certificates come over
//     SDS from istio-agent: the pods here are plain HTTP servers, not sidecars, and Istio's
//     plaintext match (tlsMode-disabled) stays.
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
	Listener string // host:port of the pod's outbound port 80
	Admin    string
	log      *syncBuffer
	client   *http.Client
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

// startSidecar loads the caller's generated configuration into Envoy: the outbound listener
// of port 80 on <block>.0.1:15080, the admin API on :15000.
func startSidecar(t *testing.T, g generated, caller Pod, block int, statsConfig map[string]any) *Sidecar {
	t.Helper()
	bin, err := envoy()
	if err != nil {
		t.Fatal(err)
	}
	listener, ok := g.Listeners["0.0.0.0_80"]
	if !ok {
		t.Fatalf("Istio generated no listener 0.0.0.0_80 for %s", caller.Name)
	}
	ip := fmt.Sprintf("127.%d.0.1", block)
	listener["address"] = map[string]any{"socket_address": map[string]any{"address": ip, "port_value": 15080}}
	delete(listener, "bind_to_port")
	// Routes inline instead of over RDS.
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
	// Clusters: the outbound ones and those the routes name, endpoints inline instead of EDS.
	var clusters []any
	names := make([]string, 0, len(g.Clusters))
	for n := range g.Clusters {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := g.Clusters[n]
		if !strings.HasPrefix(n, "outbound|") && n != "PassthroughCluster" && n != "BlackHoleCluster" {
			continue
		}
		if c["type"] == "EDS" {
			delete(c, "eds_cluster_config")
			c["type"] = "STATIC"
			la := g.Endpoints[n]
			if la == nil {
				la = map[string]any{"cluster_name": n}
			}
			c["load_assignment"] = la
		}
		clusters = append(clusters, c)
	}
	dropped := map[string]bool{}
	bootstrap := map[string]any{
		"node": map[string]any{
			"id":      "sidecar~" + caller.IP + "~" + caller.Name + "." + Namespace + "~" + Namespace + ".svc.cluster.local",
			"cluster": caller.Deployment + "." + Namespace,
		},
		"admin": map[string]any{"address": map[string]any{"socket_address": map[string]any{"address": ip, "port_value": 15000}}},
		"static_resources": map[string]any{
			"listeners": []any{listener},
			"clusters":  clusters,
		},
	}
	if statsConfig != nil {
		bootstrap["stats_config"] = statsConfig
	}
	dropIstioOnly(bootstrap, dropped)
	list := make([]string, 0, len(dropped))
	for d := range dropped {
		list = append(list, d)
	}
	sort.Strings(list)
	t.Logf("dropped (Istio's own, not in a plain Envoy): %s", strings.Join(list, ", "))
	cfg, err := json.Marshal(bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	path := writeTemp(t, "envoy.json", cfg)
	ctx, cancel := context.WithCancel(context.Background())
	// Two worker threads, as a sidecar of the workshop runs: pilot-agent sets concurrency to the
	// sidecar's CPU limit when ProxyConfig has none (pilot/cmd/pilot-agent/config), 2000m in
	// Istio's injection values. Each worker has its own connections upstream.
	cmd := exec.CommandContext(ctx, bin, "-c", path, "--disable-hot-restart", "--concurrency", "2", "--log-level", "error")
	s := &Sidecar{
		Listener: ip + ":15080",
		Admin:    ip + ":15000",
		log:      &syncBuffer{},
		client:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}},
	}
	var stderr syncBuffer
	cmd.Stdout, cmd.Stderr = s.log, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + s.Admin + "/ready")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			t.Fatalf("Envoy did not become ready: %v\n%s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
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
	fresh := &Sidecar{Listener: s.Listener, client: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
	return fresh.Call(host, path, nil, timeout)
}

// AccessLog is what the sidecar wrote to its access log (Istio's mesh config: /dev/stdout).
func (s *Sidecar) AccessLog() string { return s.log.String() }

// Stats is `pilot-agent request GET stats`: Envoy's admin /stats.
func (s *Sidecar) Stats() (string, error) {
	resp, err := http.Get("http://" + s.Admin + "/stats")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// Clusters is `pilot-agent request GET clusters`.
func (s *Sidecar) Clusters() (string, error) {
	resp, err := http.Get("http://" + s.Admin + "/clusters")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
