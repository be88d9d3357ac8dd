package mesh

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Received is one request as a backend pod saw it.
type Received struct {
	Path, Host, Cookie, RequestID string
	Method, Authorization         string // stage 10: device writes, and whether a token came through
}

// AppPod serves what a pod of aleph or beth serves at its stage, as labs/stages.tsv says the
// stage behaves (what scripts/stages check proves of the real builds): /version answers the
// stage's version, after 2 s where it "shows" slow, a 500 on every other call where it shows
// errors; the fault knobs of its environment (FAULT_ERROR_RATE, FAULT_ERROR_STATUS,
// FAULT_DELAY, FAULT_DELAY_RATE) as the services read them; PUT /faults as SetFaults.
type AppPod struct {
	Pod
	Stage Stage

	mu       sync.Mutex
	received []Received
	calls    atomic.Int64
	faults   faults
}

type faults struct {
	errorRate   float64
	errorStatus int
	delay       time.Duration
	delayRate   float64
}

func faultsFromEnv(env map[string]string) (faults, error) {
	f := faults{errorStatus: 503, delayRate: 1}
	var err error
	if v, ok := env["FAULT_ERROR_RATE"]; ok {
		if f.errorRate, err = strconv.ParseFloat(v, 64); err != nil {
			return f, fmt.Errorf("FAULT_ERROR_RATE=%q", v)
		}
	}
	if v, ok := env["FAULT_ERROR_STATUS"]; ok {
		if f.errorStatus, err = strconv.Atoi(v); err != nil {
			return f, fmt.Errorf("FAULT_ERROR_STATUS=%q", v)
		}
	}
	if v, ok := env["FAULT_DELAY"]; ok {
		if f.delay, err = time.ParseDuration(v); err != nil {
			return f, fmt.Errorf("FAULT_DELAY=%q", v)
		}
	}
	if v, ok := env["FAULT_DELAY_RATE"]; ok {
		if f.delayRate, err = strconv.ParseFloat(v, 64); err != nil {
			return f, fmt.Errorf("FAULT_DELAY_RATE=%q", v)
		}
	}
	return f, nil
}

// SetFaults is `PUT /faults` on the pod's port 8000: one pod broken, the others not.
func (p *AppPod) SetFaults(errorRate float64, errorStatus int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults.errorRate, p.faults.errorStatus = errorRate, errorStatus
}

// Received lists the requests the pod got, in order.
func (p *AppPod) Received() []Received {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Received(nil), p.received...)
}

func (p *AppPod) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.received = append(p.received, Received{Path: r.URL.Path, Host: r.Host, Cookie: r.Header.Get("Cookie"),
		RequestID: r.Header.Get("X-Request-Id"), Method: r.Method, Authorization: r.Header.Get("Authorization")})
	f := p.faults
	p.mu.Unlock()
	if f.delay > 0 && rand.Float64() < f.delayRate {
		time.Sleep(f.delay)
	}
	if rand.Float64() < f.errorRate {
		http.Error(w, "fault injected", f.errorStatus)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/device") && r.Method != http.MethodGet {
		deviceWrite(w, r)
		return
	}
	switch r.URL.Path {
	case "/version":
	case "/name": // the title, at once (front asks for it beside /version)
		_, _ = w.Write([]byte(p.Stage.Service))
		return
	default:
		http.NotFound(w, r)
		return
	}
	n := p.calls.Add(1)
	switch p.Stage.Shows {
	case "slow":
		time.Sleep(2 * time.Second)
	case "errors":
		if n%2 == 0 {
			http.Error(w, "version cache miss", http.StatusInternalServerError)
			return
		}
	}
	_, _ = w.Write([]byte(p.Stage.Version))
}

// deviceWrite answers a device write as the backends do when it reaches them
// (backend/src/devices/routes.rs), without MongoDB: POST /device creates (201), DELETE or PATCH
// /device/<id> without If-Match is 428, an id that is not 24 hex digits 404.
func deviceWrite(w http.ResponseWriter, r *http.Request) {
	id, one := strings.CutPrefix(r.URL.Path, "/device/")
	switch {
	case r.URL.Path == "/device" && r.Method == http.MethodPost:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"_status":"OK"}`))
	case one && (r.Method == http.MethodDelete || r.Method == http.MethodPatch) && !deviceID.MatchString(id):
		http.NotFound(w, r)
	case one && (r.Method == http.MethodDelete || r.Method == http.MethodPatch) && r.Header.Get("If-Match") == "":
		http.Error(w, "If-Match required", http.StatusPreconditionRequired)
	case one && r.Method == http.MethodDelete:
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// deviceID is a device's id as the backends parse it: a MongoDB ObjectId, 24 hex digits.
var deviceID = regexp.MustCompile(`^[0-9a-fA-F]{24}$`)

// startApps serves every pod of aleph and beth at its address and port.
func startApps(t *testing.T, pods []Pod) map[string]*AppPod {
	t.Helper()
	stages, err := ReadStages(root)
	if err != nil {
		t.Fatal(err)
	}
	apps := map[string]*AppPod{}
	for _, pod := range pods {
		stage, ok := StageOfImage(stages, pod.Image)
		if !ok || stage.Shows == "-" {
			continue // not a backend: MongoDB, front, the loader, curl
		}
		f, err := faultsFromEnv(pod.Env)
		if err != nil {
			t.Fatalf("%s: %v", pod.Name, err)
		}
		app := &AppPod{Pod: pod, Stage: stage, faults: f}
		ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", pod.IP, pod.Ports["http"]))
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: app}
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
		})
		apps[pod.Name] = app
	}
	return apps
}
