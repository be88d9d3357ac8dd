package pages

// A real Kubernetes control plane for the replay (replay_test.go): etcd and kube-apiserver,
// built from their Go modules (kube/go.mod, kube/etcd/go.mod) into .local/bin once per pin,
// started on loopback with a temporary data directory, and stopped when the test ends, fails or
// is interrupted. kubectl is the same release's, from the same module.

import (
	"alephbeth/mesh/internal/tools"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// controlPlane is a running etcd and kube-apiserver, and how kubectl reaches them.
type controlPlane struct {
	dir     string // the temporary folder: data, certificates, kubeconfig, kubectl's cache
	env     []string
	kubectl string
	Version string
}

// running is every process the control planes of this test binary started, and the temporary
// folders of the replay, to stop and remove on a signal (t.Cleanup does it otherwise).
var running = struct {
	sync.Mutex
	procs map[*exec.Cmd]bool
	dirs  []string
	once  sync.Once
}{procs: map[*exec.Cmd]bool{}}

// scratch is t.TempDir(), removed on an interrupt too.
func scratch(t *testing.T) string {
	dir := t.TempDir()
	running.Lock()
	running.dirs = append(running.dirs, filepath.Dir(dir)) // the test's own temporary root
	running.Unlock()
	return dir
}

// stopProcess ends a process's group: SIGTERM, then SIGKILL after 10 s.
func stopProcess(cmd *exec.Cmd, done <-chan struct{}) {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// startProcess starts a server in a process group of its own, killed with the test binary
// (Pdeathsig) and on an interrupt, stopped by t.Cleanup; its output goes to log.
func startProcess(t *testing.T, log string, name string, args ...string) {
	t.Helper()
	out, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	running.once.Do(func() {
		signals := make(chan os.Signal, 1)
		signal.Notify(signals, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		go func() {
			s := <-signals
			running.Lock()
			for c := range running.procs {
				_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			}
			time.Sleep(300 * time.Millisecond) // the killed processes let go of their files
			for _, d := range running.dirs {
				_ = os.RemoveAll(d)
			}
			running.Unlock()
			fmt.Fprintf(os.Stderr, "replay: %v: control plane stopped\n", s)
			os.Exit(1)
		}()
	})
	running.Lock()
	if err := cmd.Start(); err != nil {
		running.Unlock()
		t.Fatalf("starting %s: %v", name, err)
	}
	running.procs[cmd] = true
	running.Unlock()
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); out.Close(); close(done) }()
	t.Cleanup(func() {
		stopProcess(cmd, done)
		running.Lock()
		delete(running.procs, cmd)
		running.Unlock()
	})
}

// tail is the end of a log file, for a failure's message.
func tail(path string) string {
	data, _ := os.ReadFile(path)
	if len(data) > 3000 {
		data = data[len(data)-3000:]
	}
	return string(data)
}

// startControlPlane starts etcd and kube-apiserver on loopback ports, with a temporary data
// directory: a static token whose user is in system:masters, RBAC, the serving certificate the
// API server makes itself, a service-account key pair made here. It returns when the API server
// is ready; t.Cleanup stops both.
func startControlPlane(t *testing.T) *controlPlane {
	t.Helper()
	bins, err := tools.KubeBinaries(root)
	if err != nil {
		t.Fatal(err)
	}
	version, err := tools.KubeVersion(root)
	if err != nil {
		t.Fatal(err)
	}
	dir := scratch(t)
	for _, d := range []string{"etcd", "certs", "home"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		t.Fatal(err)
	}
	token := hex.EncodeToString(secret)
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tokens := write("tokens.csv", token+`,replay-admin,replay-admin,"system:masters"`+"\n")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	saKey := write("sa.key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	saPub := write("sa.pub", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})))

	etcdPort, peerPort, apiPort := tools.FreePort(t), tools.FreePort(t), tools.FreePort(t)
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	startProcess(t, filepath.Join(dir, "etcd.log"), bins["etcd"], "--name=replay",
		"--data-dir="+filepath.Join(dir, "etcd"), "--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL, "--initial-cluster=replay="+peerURL,
		"--unsafe-no-fsync", "--log-level=warn")
	apiLog := filepath.Join(dir, "kube-apiserver.log")
	startProcess(t, apiLog, bins["kube-apiserver"],
		"--etcd-servers="+etcdURL, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", apiPort), "--cert-dir="+filepath.Join(dir, "certs"),
		"--token-auth-file="+tokens, "--authorization-mode=RBAC", "--anonymous-auth=false",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+saPub, "--service-account-signing-key-file="+saKey,
		"--service-cluster-ip-range=10.96.0.0/16", "--allow-privileged=true", "--v=0")

	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // only to ask /readyz, on loopback
	deadline := time.Now().Add(90 * time.Second)
	for {
		req, _ := http.NewRequest("GET", server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("kube-apiserver not ready in 90 s; its log ends:\n%s\netcd's:\n%s", tail(apiLog), tail(filepath.Join(dir, "etcd.log")))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The serving certificate the API server made (with the CA that signed it) is the
	// kubeconfig's authority: kubectl checks it as it would a cluster's.
	ca := filepath.Join(dir, "certs", "apiserver.crt")
	kubeconfig := write("kubeconfig", fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: replay
  cluster: {server: %q, certificate-authority: %q}
users:
- name: replay-admin
  user: {token: %q}
contexts:
- name: replay
  context: {cluster: replay, user: replay-admin, namespace: default}
current-context: replay
`, server, ca, token))
	cp := &controlPlane{dir: dir, kubectl: bins["kubectl"], Version: version,
		env: append(os.Environ(), "KUBECONFIG="+kubeconfig, "HOME="+filepath.Join(dir, "home"))}
	return cp
}

// Kubectl runs the replay's kubectl in the repository's top folder (the pages' paths are from
// there), stdin from input if not nil; it returns stdout, and stderr as the error's text.
func (cp *controlPlane) Kubectl(input []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cp.kubectl, args...)
	cmd.Dir = root
	cmd.Env = cp.env
	if input != nil {
		cmd.Stdin = bytes.NewReader(input)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return stdout.String(), fmt.Errorf("%s", msg)
	}
	return stdout.String(), nil
}

// mustKubectl runs kubectl for the control plane's own setup: a refusal ends the test.
func (cp *controlPlane) mustKubectl(t *testing.T, input []byte, args ...string) string {
	t.Helper()
	out, err := cp.Kubectl(input, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// goModule is a module `go mod download -json` fetched: its folder in Go's module cache.
type goModule struct{ Path, Version, Dir, Error string }

// download fetches path@version (from Go's module cache or the Go module proxy) outside any
// module, as mesh/cmd/schemas does, and returns its folder.
func download(t *testing.T, pathAtVersion string) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", pathAtVersion)
	cmd.Dir = os.TempDir()
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	var m goModule
	if err == nil {
		err = json.Unmarshal(out, &m)
	}
	if err == nil && m.Error != "" {
		err = fmt.Errorf("%s", m.Error)
	}
	if err != nil {
		t.Fatalf("go mod download %s: %v", pathAtVersion, err)
	}
	return m.Dir
}

// setupPin is a pin of scripts/setup-cluster (NAME=${NAME:-value} or NAME=value).
func setupPin(t *testing.T, name string) string {
	t.Helper()
	v, err := tools.SetupValue(root, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// setupList is a list of scripts/setup-cluster (NAME=(a b c)).
func setupList(t *testing.T, name string) []string {
	t.Helper()
	v, err := tools.SetupList(root, name)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// installCRDs installs, server-side as setup-cluster does (they are too large for kubectl's
// last-applied annotation), the CRDs of the workshop's cluster at the kit's pins: the Gateway
// API's standard channel (GATEWAY_API_VERSION, with its ValidatingAdmissionPolicy), Istio's
// (mesh/go.mod's istio.io/istio, what istioctl install applies), Flagger's and Argo Rollouts'
// (FLAGGER_VERSION, ARGO_ROLLOUTS_VERSION); then waits until each is served. It returns the
// folder of the pinned Istio module (its samples/addons/ too).
func installCRDs(t *testing.T, cp *controlPlane) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "istio.io/istio").Output()
	istio := strings.TrimSpace(string(out))
	if err != nil || istio == "" {
		// Not downloaded yet: go mod download fetches what mesh/go.mod pins.
		dl := exec.Command("go", "mod", "download", "istio.io/istio")
		dl.Stderr = os.Stderr
		if err := dl.Run(); err != nil {
			t.Fatalf("go mod download istio.io/istio: %v", err)
		}
		out, _ = exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "istio.io/istio").Output()
		istio = strings.TrimSpace(string(out))
	}
	gateway := download(t, "sigs.k8s.io/gateway-api@"+setupPin(t, "GATEWAY_API_VERSION"))
	flagger := download(t, "github.com/fluxcd/flagger@"+setupPin(t, "FLAGGER_VERSION"))
	argo := download(t, "github.com/argoproj/argo-rollouts@"+setupPin(t, "ARGO_ROLLOUTS_VERSION"))
	files, _ := filepath.Glob(filepath.Join(gateway, "config", "crd", "standard", "*.yaml"))
	argoCRDs, _ := filepath.Glob(filepath.Join(argo, "manifests", "crds", "*-crd.yaml"))
	files = append(append(files, filepath.Join(istio, "manifests", "charts", "base", "files", "crd-all.gen.yaml"),
		filepath.Join(flagger, "artifacts", "flagger", "crd.yaml")), argoCRDs...)
	args := []string{"apply", "--server-side", "--field-manager=alephbeth-replay"}
	for _, f := range files {
		args = append(args, "-f", f)
	}
	start := time.Now()
	cp.mustKubectl(t, nil, args...)
	cp.mustKubectl(t, nil, "wait", "--for=condition=Established", "crd", "--all", "--timeout=120s")
	crds := strings.Count(cp.mustKubectl(t, nil, "get", "crd", "-o", "name"), "\n")
	t.Logf("%d CRDs installed and served in %s (Gateway API %s standard, Istio %s, Flagger, Argo Rollouts)",
		crds, time.Since(start).Round(time.Millisecond), setupPin(t, "GATEWAY_API_VERSION"), filepath.Base(istio))
	return istio
}
