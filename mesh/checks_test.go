package mesh

import (
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Proxy is the Envoy a call goes through: the caller's sidecar, or the namespace's waypoint.
type Proxy interface {
	// Call sends one request as the app in the calling pod would (http://host/path).
	Call(host, path string, header http.Header, timeout time.Duration) (Answer, error)
	// CallNewConnection is Call from a new connection of the calling app.
	CallNewConnection(host, path string, timeout time.Duration) (Answer, error)
	AccessLog() string
	Stats() (string, error)
	Clusters() (string, error)
}

// Mesh is one lab step running: the proxy (a real Envoy on the configuration Istio generates for
// it) in front of the step's aleph and beth pods.
type Mesh struct {
	Proxy
	Apps map[string]*AppPod
}

// AppsOf lists the pods of one Deployment, by name.
func (m *Mesh) AppsOf(deployment string) []*AppPod {
	var out []*AppPod
	for _, a := range m.Apps {
		if a.Deployment == deployment {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func cookie(c string) http.Header {
	h := http.Header{}
	if c != "" {
		h.Set("Cookie", c)
	}
	return h
}

// callMany sends n calls at once (as the loader does, as many in flight as the rate needs) and
// returns the answers.
func (m *Mesh) callMany(t *testing.T, n int, host, path string, h http.Header, timeout time.Duration) []Answer {
	t.Helper()
	answers := make([]Answer, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := m.Call(host, path, h, timeout)
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
			answers[i] = a
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d calls to %s failed: %v", len(errs), n, host, errs[0])
	}
	return answers
}

// summary counts answers as the loader shows them: the version for a 200, else "HTTP <status>".
func summary(answers []Answer) map[string]int {
	out := map[string]int{}
	for _, a := range answers {
		if a.Status == 200 {
			out[a.Body]++
		} else {
			out[fmt.Sprintf("HTTP %d", a.Status)]++
		}
	}
	return out
}

// within says whether k of n is a plausible draw at probability p: within 4.5 standard
// deviations (a false alarm about once in 150,000 runs), and at least one either side.
func within(k, n int, p float64) bool {
	mean := float64(n) * p
	sd := math.Sqrt(float64(n) * p * (1 - p))
	return math.Abs(float64(k)-mean) <= 4.5*sd+1
}

// answersAll: every call to host answers version.
func answersAll(host, version string, n int) func(*testing.T, *Mesh) {
	return func(t *testing.T, m *Mesh) {
		got := summary(m.callMany(t, n, host, "/version", nil, 10*time.Second))
		if got[version] != n {
			t.Errorf("%s: want all %d answers %s, got %v", host, n, version, got)
		}
	}
}

// firstStage: front's sidecar reaches aleph 0.1 and beth 0.1, beth slowly.
func firstStage(t *testing.T, m *Mesh) {
	a, err := m.Call("aleph", "/version", nil, 5*time.Second)
	if err != nil || a.Status != 200 || a.Body != "0.1" {
		t.Errorf("aleph: %+v %v", a, err)
	}
	b, err := m.Call("beth", "/version", nil, 5*time.Second)
	if err != nil || b.Status != 200 || b.Body != "0.1" || b.Took < 2*time.Second {
		t.Errorf("beth: want 0.1 after 2 s, got %+v %v", b, err)
	}
}

// darkLaunch: the cookie user=developer (alone or after others) reaches the new version,
// everyone else, user=developer2 included, the old one.
func darkLaunch(host, old, fresh string) func(*testing.T, *Mesh) {
	return func(t *testing.T, m *Mesh) {
		for c, want := range map[string]string{
			"":                           old,
			"user=developer":             fresh,
			"theme=dark; user=developer": fresh,
			"a=b; user=developer":        fresh,
			"user=developer2":            old,
			"xuser=developer":            old,
		} {
			a, err := m.Call(host, "/version", cookie(c), 5*time.Second)
			if err != nil || a.Status != 200 || a.Body != want {
				t.Errorf("Cookie %q: want %s 200, got %+v %v", c, want, a, err)
			}
		}
	}
}

// mirror: everyone (developer too) is served by the served version; every request is copied to
// the mirror's pods, with the same request id and, Istio >= 1.28, the same Host.
func mirror(host, served, mirrorDeployment string) func(*testing.T, *Mesh) {
	return func(t *testing.T, m *Mesh) {
		const n = 20
		got := summary(append(m.callMany(t, n/2, host, "/version", nil, 10*time.Second),
			m.callMany(t, n/2, host, "/version", cookie("user=developer"), 10*time.Second)...))
		if got[served] != n {
			t.Errorf("want every answer from %s, got %v", served, got)
		}
		copies := m.AppsOf(mirrorDeployment)
		deadline := time.Now().Add(3 * time.Second)
		var received []Received
		for time.Now().Before(deadline) {
			received = nil
			for _, a := range copies {
				received = append(received, a.Received()...)
			}
			if len(received) >= n {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(received) != n {
			t.Fatalf("%s received %d copies of %d requests", mirrorDeployment, len(received), n)
		}
		servedIDs := map[string]bool{}
		for _, a := range m.Apps {
			if a.Deployment != mirrorDeployment {
				for _, r := range a.Received() {
					servedIDs[r.RequestID] = true
				}
			}
		}
		for _, r := range received {
			if r.Host != host {
				t.Errorf("a copy arrived with Host %q, want %q (what labs/05-mirror.md says)", r.Host, host)
			} else if promised := promisedAnywhere(t, host+"-shadow"); promised != "" {
				t.Fatalf("a copy keeps its Host %q, but %s promises %q", host, promised, host+"-shadow")
			}
			if !servedIDs[r.RequestID] {
				t.Errorf("a copy's request id %q was not served by %s", r.RequestID, served)
			}
		}
	}
}

// shares: the canary's weights, within binomial bounds over n calls.
func shares(host string, want map[string]float64, n int) func(*testing.T, *Mesh) {
	return func(t *testing.T, m *Mesh) {
		got := summary(m.callMany(t, n, host, "/version", nil, 10*time.Second))
		total := 0
		for version, p := range want {
			total += got[version]
			if !within(got[version], n, p) {
				t.Errorf("%s: %s answered %d of %d, want about %.0f%%: %v", host, version, got[version], n, p*100, got)
			}
		}
		if total != n {
			t.Errorf("%s: unexpected answers %v", host, got)
		}
	}
}

// timeout: every call to beth answers 504 after 1 s, the access log flags it UT.
func timeout(t *testing.T, m *Mesh) {
	answers := m.callMany(t, 5, "beth", "/version", nil, 5*time.Second)
	for _, a := range answers {
		// The body is the route timeout's own; no upper bound on time (a busy machine is slow).
		if a.Status != 504 || a.Body != "upstream request timeout" || a.Took < 900*time.Millisecond {
			t.Errorf("want 504 upstream request timeout after 1 s, got %+v", a)
		}
	}
	// One line per call (the mesh config's log and the Telemetry's are one log, not two).
	waitFor(t, "access log line per call with the UT flag", func() bool { return strings.Count(m.AccessLog(), " 504 UT ") >= len(answers) })
	time.Sleep(1200 * time.Millisecond) // one more flush of the log
	if n := strings.Count(m.AccessLog(), " 504 UT "); n != len(answers) {
		t.Errorf("%d access log lines with 504 UT for %d calls", n, len(answers))
	}
}

// circuitBreaker: the loader's 40 calls in flight to the 2-second beth 0.1: most are refused at
// once (503, UO), a few pass after 2 s; the loader's sidecar counts the overflow where the page
// greps for it.
func circuitBreaker(statsGrep string) func(*testing.T, *Mesh) {
	return func(t *testing.T, m *Mesh) {
		answers := m.callMany(t, 40, "beth", "/version", nil, 10*time.Second)
		refused, passed := 0, 0
		for _, a := range answers {
			switch {
			case a.Status == 503 && a.Overflow: // refused by the sidecar, not waited for
				refused++
			case a.Status == 200 && a.Body == "0.1":
				passed++
			default:
				t.Errorf("unexpected answer %+v", a)
			}
		}
		if refused < 30 || passed < 1 {
			t.Errorf("want mostly 503 at once and a few 0.1: %d refused, %d passed", refused, passed)
		}
		waitFor(t, "the access log's UO flag", func() bool { return strings.Contains(m.AccessLog(), " 503 UO ") })
		if statsGrep == "" {
			return
		}
		stats, err := m.Stats()
		if err != nil {
			t.Fatal(err)
		}
		// kubectl exec deploy/loader -c istio-proxy -- pilot-agent request GET stats | grep 'v01|beth' | grep pending
		var lines []string
		for _, l := range strings.Split(stats, "\n") {
			if strings.Contains(l, statsGrep) && strings.Contains(l, "pending") {
				lines = append(lines, l)
			}
		}
		if !strings.Contains(strings.Join(lines, "\n"), "upstream_rq_pending_overflow: ") {
			t.Errorf("grep %q | grep pending shows no upstream_rq_pending_overflow: %q", statsGrep, lines)
		}
	}
}

// pageLoads: front's sidecar has a pool of its own with the same limits (one connection, one
// waiting request), and its two worker threads do not share a connection: a page load (beth's
// /version and /name at once) shows beth 0.1, or, when the two calls land on different threads,
// Error: 503 (the sidecar refused one). Never anything else, and not always the 503.
func pageLoads(t *testing.T, m *Mesh) {
	const loads = 8
	shown, refused := 0, 0
	for i := 0; i < loads; i++ {
		var wg sync.WaitGroup
		answers := make([]Answer, 2)
		for j, path := range []string{"/version", "/name"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a, err := m.CallNewConnection("beth", path, 5*time.Second)
				if err != nil {
					t.Error(err)
				}
				answers[j] = a
			}()
		}
		wg.Wait()
		switch {
		case answers[0].Status == 200 && answers[0].Body == "0.1" && answers[1].Status == 200:
			shown++
		case (answers[0].Status == 503 && answers[0].Overflow) || (answers[1].Status == 503 && answers[1].Overflow):
			refused++
		default:
			t.Errorf("a page load under the circuit breaker: %+v", answers)
		}
	}
	t.Logf("%d page loads: beth 0.1 on %d, Error: 503 on %d", loads, shown, refused)
	if shown == 0 {
		t.Errorf("no page load of %d showed beth 0.1", loads)
	}
}

// okShare: the share of 200s among n calls (the loader's "ok").
func okShare(host string, p float64, n int) func(*testing.T, *Mesh) {
	return func(t *testing.T, m *Mesh) {
		answers := m.callMany(t, n, host, "/version", nil, 10*time.Second)
		ok := summary(answers)
		okCount := 0
		for _, a := range answers {
			if a.Status == 200 {
				okCount++
			}
		}
		if !within(okCount, n, p) {
			t.Errorf("%s: %d of %d ok, want about %.0f%%: %v", host, okCount, n, p*100, ok)
		}
	}
}

// faultDelay: calls carrying user=developer wait 12 s in the sidecar, before they reach aleph;
// other calls answer at once.
func faultDelay(t *testing.T, m *Mesh) {
	a, err := m.Call("aleph", "/version", nil, 5*time.Second)
	if err != nil || a.Status != 200 || a.Took > 5*time.Second {
		t.Fatalf("signed out: want aleph at once (not after 12 s), got %+v %v", a, err)
	}
	before := len(m.AppsOf("aleph")[0].Received())
	start := time.Now()
	done := make(chan Answer, 1)
	go func() {
		a, _ := m.Call("aleph", "/version", cookie("user=developer"), 20*time.Second)
		done <- a
	}()
	time.Sleep(10 * time.Second)
	if n := len(m.AppsOf("aleph")[0].Received()); n != before {
		t.Errorf("the developer's call reached aleph before its 12 s were up")
	}
	a = <-done
	// 12 s by Envoy's clock; a little less by this one's.
	if a.Status != 200 || time.Since(start) < 11*time.Second {
		t.Errorf("developer: want 0.1 after 12 s, got %+v after %v", a, time.Since(start))
	}
}

// faultAbort: calls carrying user=developer get 503 from the sidecar itself; aleph never sees them.
func faultAbort(t *testing.T, m *Mesh) {
	for i := 0; i < 5; i++ {
		a, err := m.Call("aleph", "/version", cookie("user=developer"), 5*time.Second)
		if err != nil || a.Status != 503 || a.Body != "fault filter abort" {
			t.Errorf("developer: want 503 fault filter abort, got %+v %v", a, err)
		}
	}
	if n := len(m.AppsOf("aleph")[0].Received()); n != 0 {
		t.Errorf("aleph received %d of the developer's aborted calls", n)
	}
	if a, err := m.Call("aleph", "/version", nil, 5*time.Second); err != nil || a.Status != 200 {
		t.Errorf("signed out: want 200, got %+v %v", a, err)
	}
}

// knobDelay: aleph's own FAULT_DELAY=12s: every caller waits, inside aleph.
func knobDelay(t *testing.T, m *Mesh) {
	a, err := m.Call("aleph", "/version", nil, 20*time.Second)
	if err != nil || a.Status != 200 || a.Took < 11*time.Second {
		t.Errorf("want 0.1 after 12 s for everyone, got %+v %v", a, err)
	}
	if len(m.AppsOf("aleph")[0].Received()) != 1 {
		t.Errorf("the call did not reach aleph once")
	}
}

// knobAbort: aleph's own FAULT_ERROR_RATE=1 with 503: every caller gets 503, and aleph's log
// shows each call once: Istio's default retry policy retries connection failures and refused
// streams, not a status the app answers.
func knobAbort(t *testing.T, m *Mesh) {
	a, err := m.Call("aleph", "/version", nil, 5*time.Second)
	if err != nil || a.Status != 503 || a.Body != "fault injected\n" {
		t.Errorf("want 503 fault injected, got %+v %v", a, err)
	}
	if n := len(m.AppsOf("aleph")[0].Received()); n != 1 {
		t.Errorf("aleph saw the call %d times, the page says once", n)
	}
}

// outlier: one of three aleph pods answers 500 to everything (PUT /faults); the callers'
// sidecars eject it after three in a row, list it with failed_outlier_check, and send it
// nothing more. Envoy ejects on its main thread once a worker has reported the third 5xx, so on a
// busy machine a few more calls may reach the pod first: calls go on until the ejection shows
// (3 s at most), then 30 more must all succeed.
func outlier(t *testing.T, m *Mesh) {
	pods := m.AppsOf("aleph")
	if len(pods) != 3 {
		t.Fatalf("want 3 aleph pods, got %d", len(pods))
	}
	broken := pods[0]
	want := broken.IP + ":8080::health_flags::/failed_outlier_check"
	call := func() int {
		a, err := m.Call("aleph", "/version", nil, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return a.Status
	}
	failed := 0
	ejected := func() bool {
		if call() != 200 {
			failed++
		}
		clusters, err := m.Clusters()
		return err == nil && strings.Contains(clusters, want)
	}
	if !waitFor(t, "pilot-agent request GET clusters | grep aleph.staging | grep health_flags: "+want, ejected) {
		return
	}
	if failed < 3 {
		t.Errorf("%d calls failed before the ejection: the page says three in a row", failed)
	}
	for i := 0; i < 30; i++ {
		if status := call(); status != 200 {
			t.Fatalf("call %d after the ejection answered %d: the broken pod still gets calls", i+1, status)
		}
	}
}

// withoutOutlierDetection: one broken pod of three: about two calls in three succeed.
func withoutOutlierDetection(t *testing.T, m *Mesh) {
	okShare("aleph", 2.0/3, 150)(t, m)
}

// waitFor waits up to 3 s for ok, and says so when it never is.
func waitFor(t *testing.T, what string, ok func() bool) bool {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Errorf("no %s", what)
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// promisedAnywhere names the first lab page or mesh file that mentions text, or "".
func promisedAnywhere(t *testing.T, text string) string {
	t.Helper()
	for _, pattern := range []string{"labs/*.md", "istio/*.yaml", "istio/gateway-api/*.yaml"} {
		files, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(data), text) {
				rel, _ := filepath.Rel(root, f)
				return rel
			}
		}
	}
	return ""
}

// retriesHide: aleph failing half its calls at random, behind up to 3 retries of the caller's
// sidecar: about 15 calls in 16 succeed, and aleph gets about 1.875 tries per call (the page:
// "about 37 per second for the loader's 20").
func retriesHide(t *testing.T, m *Mesh) {
	const n = 200
	okShare("aleph", 15.0/16, n)(t, m)
	tries := 0
	for _, a := range m.AppsOf("aleph") {
		tries += len(a.Received())
	}
	if per := float64(tries) / n; per < 1.6 || per > 2.15 {
		t.Errorf("aleph got %.2f tries per call, the page says about 1.9 (37 a second for 20)", per)
	}
}

// routeOrder: what labs/04-dark-launch.md says `istioctl proxy-config routes deployment/front
// --name 80 -o json | grep -E '"regex"|"cluster"'` shows: the cookie regex, then the new
// version's cluster, then the old one's (Envoy's config dump holds the same route).
func routeOrder(newCluster, oldCluster string) func(*testing.T, *Mesh) {
	return func(t *testing.T, m *Mesh) {
		s, ok := m.Proxy.(*Sidecar)
		if !ok {
			return
		}
		dump, err := s.adminGet("/config_dump")
		if err != nil {
			t.Fatal(err)
		}
		regex := strings.Index(dump, `"regex": "^(.*?;\\s*)?(user=developer)(;.*)?$"`)
		if regex < 0 {
			t.Fatalf("front's route for port 80 has no cookie regex")
		}
		// The grep's next two "cluster" lines after the regex, in beth's virtual host.
		var next []string
		for rest := dump[regex:]; len(next) < 2; {
			i := strings.Index(rest, `"cluster": "`)
			if i < 0 {
				break
			}
			rest = rest[i+len(`"cluster": "`):]
			next = append(next, rest[:strings.Index(rest, `"`)])
		}
		if len(next) != 2 || next[0] != newCluster || next[1] != oldCluster {
			t.Errorf("front's route for port 80: after the cookie regex want %s then %s, got %v", newCluster, oldCluster, next)
		}
	}
}
