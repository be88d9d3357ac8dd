package mesh

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Stage 10's security files (security/*.yaml, sidecar mode) through aleph's sidecar: the
// INBOUND listener Istio's pilot generates for aleph's pod (virtualInbound: jwt_authn, then
// RBAC), in a real Envoy, in front of aleph's app. Callers come as a sidecar sends them: mutual
// TLS with a SPIFFE certificate of their service account and Istio's ALPN; tokens are front's
// own, from the real front binary's sign-in, and the bad ones are made here.

// The security files in the order the page applies them (-n staging).
var securityFiles = []string{
	"security/request-authentication.yaml",
	"security/device-writes.yaml",
	"security/device-deletes.yaml",
	"security/callers.yaml",
	"security/strict-mtls.yaml",
}

// enforceDeletes is the command device-deletes.yaml gives to end its dry run.
const enforceDeletes = "kubectl annotate authorizationpolicy device-deletes-need-a-developer istio.io/dry-run- -n staging"

// frontBinary is front as built here: the newest of target/{release,debug}/front, or a build.
func frontBinary(t *testing.T) string {
	t.Helper()
	var newest string
	var at time.Time
	for _, profile := range []string{"release", "debug"} {
		p := filepath.Join(root, "target", profile, "front")
		if fi, err := os.Stat(p); err == nil && fi.ModTime().After(at) {
			newest, at = p, fi.ModTime()
		}
	}
	if newest != "" {
		t.Logf("front: %s (built %s)", newest, at.Format(time.RFC3339))
		return newest
	}
	start := time.Now()
	cmd := exec.Command("cargo", "build", "-p", "front")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cargo build -p front: %v\n%s", err, out)
	}
	t.Logf("cargo build -p front took %s", time.Since(start).Round(time.Second))
	return filepath.Join(root, "target", "debug", "front")
}

// Front is the real front, serving sign-in and its JWKS on a loopback address.
type Front struct {
	URL string
	key *ecdsa.PrivateKey // the one key of its TOKEN_KEYS, which signs
}

// startFront runs front with a TOKEN_KEYS folder of one P-256 key made here (PKCS#8 PEM, as
// `openssl genpkey` writes it), TOKEN_ISSUER its default, no backends it could reach.
func startFront(t *testing.T, ip string) *Front {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	if err := os.WriteFile(filepath.Join(keys, "key-1.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, frontBinary(t))
	cmd.Env = append(os.Environ(), "BIND="+ip, "PORT=8080", "METRICS_PORT=8000", "TOKEN_KEYS="+keys,
		"BACKENDS=127.0.0.1:1")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	// Killed at the end of the test, passed or failed.
	t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	f := &Front{URL: "http://" + ip + ":8080", key: key}
	awaitOK(t, cmd, f.URL+"/.well-known/jwks.json", 100*time.Millisecond, "front did not serve its JWKS", &out)
	return f
}

// signIn is the sign-in form's POST /login: the token cookie front sets.
func (f *Front) signIn(t *testing.T, user string) string {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(f.URL+"/login", url.Values{"username": {user}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST /login as %s: %s %s", user, resp.Status, b)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "token" {
			return c.Value
		}
	}
	t.Fatalf("POST /login as %s: no token cookie", user)
	return ""
}

var b64 = base64.RawURLEncoding

// jwtParts decodes a token's header and claims.
func jwtParts(t *testing.T, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", token)
	}
	for i, into := range []*map[string]any{&header, &claims} {
		b, err := b64.DecodeString(parts[i])
		if err == nil {
			err = json.Unmarshal(b, into)
		}
		if err != nil {
			t.Fatalf("token part %d: %v", i, err)
		}
	}
	return header, claims
}

// signES256 makes a JWS as front's token.rs does: ES256, the signature r||s, 32 bytes each.
func signES256(t *testing.T, key *ecdsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64.EncodeToString(sig)
}

// thumbprint is a P-256 key's RFC 7638 thumbprint, front's kid.
func thumbprint(t *testing.T, pub *ecdsa.PublicKey) string {
	t.Helper()
	p, err := pub.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	point := p.Bytes() // 0x04, x, y
	canonical := fmt.Sprintf(`{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, b64.EncodeToString(point[1:33]), b64.EncodeToString(point[33:]))
	sum := sha256.Sum256([]byte(canonical))
	return b64.EncodeToString(sum[:])
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// securityState is staging with the first stage deployed and stage 10's security files applied.
// The RequestAuthentication's jwksUri is front's in-cluster URL; here it is the loopback
// address the real front serves on, so that pilot's own JwksResolver fetches front's real JWKS
// (PILOT_JWT_ENABLE_REMOTE_JWKS false: istiod fetches, the sidecar gets it inline as local_jwks).
func securityState(t *testing.T, front *Front) *State {
	t.Helper()
	s := NewState(root)
	commands := []string{"kubectl apply -k deployments/ -n staging", apply(clusterFiles)}
	for _, f := range securityFiles {
		commands = append(commands, apply(f))
	}
	for _, c := range commands {
		if err := s.Kubectl(c); err != nil {
			t.Fatal(err)
		}
	}
	ra, ok := s.Get("RequestAuthentication", "front-tokens")
	if !ok {
		t.Fatal("security/request-authentication.yaml: no RequestAuthentication front-tokens")
	}
	rule := asList(lookup(ra.Doc, "spec", "jwtRules"))[0].(map[string]any)
	if rule["jwksUri"] != "http://front.staging.svc.cluster.local/.well-known/jwks.json" {
		t.Errorf("front-tokens' jwksUri is %v, not front's /.well-known/jwks.json", rule["jwksUri"])
	}
	rule["jwksUri"] = front.URL + "/.well-known/jwks.json"
	return s
}

// startInbound loads the INBOUND side of a pod's sidecar into Envoy: virtualInbound listens at
// ip on the app's port (no iptables here: original_dst then leaves the local address, so the
// chain for the app's port matches), the inbound cluster goes straight to the app (it is
// ORIGINAL_DST, which would be the listener itself here), the certificates SDS would serve are
// static secrets of the same names (the pod's identity, the mesh's root).
func startInbound(t *testing.T, g generated, pod Pod, p *pki, ip string) *envoyProcess {
	t.Helper()
	listener, ok := g.Listeners["virtualInbound"]
	if !ok {
		t.Fatalf("Istio generated no virtualInbound for %s", pod.Name)
	}
	port := pod.Ports["http"]
	listener["address"] = map[string]any{"socket_address": map[string]any{"address": ip, "port_value": port}}
	delete(listener, "bind_to_port")
	inlineRoutes(t, listener, g)
	var clusters []any
	for _, n := range sortedKeys(g.Clusters) {
		c := g.Clusters[n]
		switch {
		case strings.HasPrefix(n, "inbound|"):
			target := toInt(strings.Split(n, "|")[1])
			delete(c, "lb_policy")
			delete(c, "original_dst_lb_config")
			c["type"] = "STATIC"
			c["load_assignment"] = map[string]any{"cluster_name": n, "endpoints": []any{map[string]any{
				"lb_endpoints": []any{map[string]any{"endpoint": map[string]any{"address": map[string]any{
					"socket_address": map[string]any{"address": pod.IP, "port_value": target}}}}}}}}
			clusters = append(clusters, c)
		case n == "InboundPassthroughCluster" || n == "BlackHoleCluster":
			clusters = append(clusters, c)
		}
	}
	certPEM, keyPEM, _ := p.workload(t, pod.ServiceAccount)
	istio, err := istioBootstrap(pod)
	if err != nil {
		t.Fatal(err)
	}
	bootstrap := map[string]any{
		"node": map[string]any{
			"id":      "sidecar~" + pod.IP + "~" + pod.Name + "." + Namespace + "~" + Namespace + ".svc.cluster.local",
			"cluster": pod.Deployment + "." + Namespace,
		},
		// Which counters the sidecar keeps (the RBAC filter's shadow counters among them).
		"stats_config": istio["stats_config"],
		"static_resources": map[string]any{
			"listeners": []any{listener},
			"clusters":  clusters,
			"secrets":   p.secrets(certPEM, keyPEM),
		},
	}
	staticSecrets(bootstrap)
	dropAndLog(t, bootstrap)
	return runEnvoy(t, bootstrap, ip+":15000")
}

// inboundCaller calls a pod's sidecar as one caller would reach it: with a sidecar of its own
// (mutual TLS as its service account, ALPN istio-http/1.1 as Istio's outbound sets it for
// HTTP/1.1), or in plain text (no sidecar).
type inboundCaller struct {
	addr   string
	tls    bool
	client *http.Client
}

func meshCaller(t *testing.T, p *pki, sa, addr, serverSA string) *inboundCaller {
	_, _, cert := p.workload(t, sa)
	return &inboundCaller{addr: addr, tls: true, client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			RootCAs:      p.pool(),
			ServerName:   serverSA, // the DNS name of the workload certificates made here
			NextProtos:   []string{"istio-http/1.1"},
		},
	}}}
}

func plainCaller(addr string) *inboundCaller {
	return &inboundCaller{addr: addr, client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
}

// seen is one answer through the sidecar and whether the app got the request.
type seen struct {
	Status  int
	Body    string
	Header  http.Header
	Reached bool
	Got     Received // what the app got, when it did
}

func (c *inboundCaller) do(t *testing.T, app *AppPod, method, path, token string) (seen, error) {
	t.Helper()
	scheme := "http"
	if c.tls {
		scheme = "https"
	}
	req, err := http.NewRequest(method, scheme+"://"+c.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "aleph.staging.svc.cluster.local"
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	before := len(app.Received())
	resp, err := c.client.Do(req)
	if err != nil {
		return seen{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return seen{}, err
	}
	s := seen{Status: resp.StatusCode, Body: string(body), Header: resp.Header}
	if got := app.Received(); len(got) > before {
		s.Reached, s.Got = true, got[len(got)-1]
	}
	return s, nil
}

func (c *inboundCaller) must(t *testing.T, app *AppPod, method, path, token string) seen {
	t.Helper()
	s, err := c.do(t, app, method, path, token)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return s
}

// shadowDenied reads the RBAC filter's shadow counter of dry-run DENY policies on the inbound
// chain of the app's port, as `pilot-agent request GET stats` shows it. Envoy names it
// http.<stat prefix>.rbac.<shadow_rules_stat_prefix>.shadow_denied: with Istio's prefix
// istio_dry_run_deny_, "istio_dry_run_deny_.shadow_denied" (Istio's bootstrap tags it by the
// regexes (\.istio_dry_run_(allow|deny)_) and (\.shadow_(allowed|denied)), which need those dots).
func shadowDenied(t *testing.T, e *envoyProcess, port int) (int, string) {
	t.Helper()
	stats, err := e.Stats()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^(http\.inbound_0\.0\.0\.0_` + strconv.Itoa(port) + `;?\.rbac\.istio_dry_run_deny_\.shadow_denied): (\d+)$`)
	m := re.FindStringSubmatch(stats)
	if m == nil {
		t.Fatalf("no shadow_denied counter of port %d in the sidecar's stats:\n%s", port, grepLines(stats, "rbac"))
	}
	n, _ := strconv.Atoi(m[2])
	return n, m[1]
}

// says fails unless a file a learner reads (a security file's comment, the page) quotes what the
// sidecar did: its words are the proof, not our reading of Envoy's.
func says(t *testing.T, observed string, files ...string) {
	t.Helper()
	for _, file := range files {
		text, err := os.ReadFile(filepath.Join(root, file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(text), observed) {
			t.Errorf("%s does not say %q, which is what the sidecar did", file, observed)
		}
	}
}

// device is a device id as aleph parses them (24 hex digits): a DELETE without If-Match that
// reaches aleph is its 428.
const device = "/device/65f0c0ffee0000000000beef"

func TestSecurity(t *testing.T) {
	start := time.Now()
	block := int(blocks.Add(1)) + 1
	front := startFront(t, fmt.Sprintf("127.%d.4.1", block))
	developer, jason := front.signIn(t, "developer"), front.signIn(t, "jason")

	s := securityState(t, front)
	pods := s.Pods(block)
	var aleph Pod
	for _, pod := range pods {
		if pod.Deployment == "aleph" {
			aleph = pod
		}
	}
	apps := startApps(t, pods)
	app := apps[aleph.Name]
	p := newPKI(t)
	ip := fmt.Sprintf("127.%d.3.1", block)
	sidecar := startInbound(t, generate(t, s, pods, aleph), aleph, p, ip)
	addr := fmt.Sprintf("%s:%d", ip, aleph.Ports["http"])
	asFront := meshCaller(t, p, "front", addr, aleph.ServiceAccount)

	t.Run("front's tokens", func(t *testing.T) {
		header, claims := jwtParts(t, developer)
		if header["alg"] != "ES256" || header["kid"] != thumbprint(t, &front.key.PublicKey) {
			t.Errorf("developer's token header %v: want ES256, kid the key's RFC 7638 thumbprint", header)
		}
		if claims["iss"] != "http://front.staging.svc.cluster.local" || claims["sub"] != "developer" ||
			fmt.Sprint(claims["groups"]) != "[developers]" {
			t.Errorf("developer's claims: %v", claims)
		}
		if _, claims := jwtParts(t, jason); claims["sub"] != "jason" || fmt.Sprint(claims["groups"]) != "[]" {
			t.Errorf("jason's claims: %v", claims)
		}
	})

	// device-writes.yaml: with a token front issued, 201 from aleph.
	t.Run("developer's POST /device reaches aleph", func(t *testing.T) {
		got := asFront.must(t, app, "POST", "/device", developer)
		if got.Status != 201 || !got.Reached {
			t.Errorf("POST /device with developer's token: %d %q, reached aleph: %v", got.Status, got.Body, got.Reached)
		}
		// request-authentication.yaml: the sidecar removes the token once verified.
		if got.Reached && got.Got.Authorization != "" {
			t.Errorf("aleph got the token (Authorization: %q)", got.Got.Authorization)
		}
	})

	t.Run("no token", func(t *testing.T) {
		got := asFront.must(t, app, "POST", "/device", "")
		if got.Status != 403 || got.Body != "RBAC: access denied" || got.Reached {
			t.Errorf("POST /device without a token: %d %q, reached aleph: %v; want 403 \"RBAC: access denied\" from the sidecar",
				got.Status, got.Body, got.Reached)
		}
		got = asFront.must(t, app, "GET", "/version", "")
		if got.Status != 200 || got.Body != "0.1" || !got.Reached {
			t.Errorf("GET /version without a token: %d %q, reached aleph: %v", got.Status, got.Body, got.Reached)
		}
	})

	t.Run("bad tokens", func(t *testing.T) {
		header, claims := jwtParts(t, developer)
		now := time.Now().Unix()
		expired := cloneMap(claims)
		expired["iat"], expired["exp"] = now-7200, now-3600
		issuer := cloneMap(claims)
		issuer["iss"] = "http://front.example.com"
		parts := strings.Split(developer, ".")
		tampered := cloneMap(claims)
		tampered["sub"] = "admin"
		t2, _ := json.Marshal(tampered)
		other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		otherHeader := cloneMap(header)
		otherHeader["kid"] = thumbprint(t, &other.PublicKey)
		none, _ := json.Marshal(map[string]any{"alg": "none", "typ": "JWT"})
		c, _ := json.Marshal(claims)
		big := cloneMap(claims)
		big["pad"] = strings.Repeat("x", 20*1024)
		bigJSON, _ := json.Marshal(big)
		bad := []struct{ name, token string }{
			{"a.b.c (request-authentication.yaml's example)", "a.b.c"},
			{"expired", signES256(t, front.key, header, expired)},
			{"wrong signature", parts[0] + "." + b64.EncodeToString(t2) + "." + parts[2]},
			{"wrong issuer", signES256(t, front.key, header, issuer)},
			{"alg none", b64.EncodeToString(none) + "." + b64.EncodeToString(c) + "."},
			{"another key", signES256(t, other, otherHeader, claims)},
			{"oversized (20 KiB, payload not the signed one)", parts[0] + "." + b64.EncodeToString(bigJSON) + "." + parts[2]},
			{"larger than Envoy's 60 KiB of request headers", developer + strings.Repeat("A", 64*1024)},
		}
		for _, b := range bad {
			for _, req := range []struct{ method, path string }{{"GET", "/version"}, {"POST", "/device"}} {
				got := asFront.must(t, app, req.method, req.path, b.token)
				t.Logf("%s, %s %s (%d bytes): %d %q www-authenticate: %q", b.name, req.method, req.path, len(b.token),
					got.Status, got.Body, got.Header.Get("www-authenticate"))
				if got.Reached {
					t.Errorf("%s: %s %s reached aleph", b.name, req.method, req.path)
				}
				if want, ok := badTokenAnswers[b.name]; ok && (got.Status != want.status || got.Body != want.body) {
					t.Errorf("%s: %s %s answered %d %q, want %d %q", b.name, req.method, req.path, got.Status, got.Body, want.status, want.body)
				}
				if req.method == "GET" && (b.token == "a.b.c" || b.name == "expired") {
					says(t, got.Body, "security/request-authentication.yaml", "labs/10-security.md")
				}
			}
		}
	})

	t.Run("deletes in dry run", func(t *testing.T) {
		port := aleph.Ports["http"]
		before, name := shadowDenied(t, sidecar, port)
		got := asFront.must(t, app, "DELETE", device, jason)
		if got.Status != 428 || !got.Reached {
			t.Errorf("jason's DELETE in dry run: %d %q, reached aleph: %v; want aleph's 428", got.Status, got.Body, got.Reached)
		}
		if after, _ := shadowDenied(t, sidecar, port); after != before+1 {
			t.Errorf("%s: %d before jason's DELETE, %d after; want one more", name, before, after)
		}
		got = asFront.must(t, app, "DELETE", device, developer)
		if got.Status != 428 || !got.Reached {
			t.Errorf("developer's DELETE in dry run: %d %q, reached aleph: %v", got.Status, got.Body, got.Reached)
		}
		if after, _ := shadowDenied(t, sidecar, port); after != before+1 {
			t.Errorf("%s: %d after developer's DELETE; the policy would not deny a developer", name, after)
		}
		// The page and the file show the counter by the name Envoy gives it, found by `grep shadow_denied`.
		_, counter, _ := strings.Cut(name, ".rbac.")
		says(t, counter, "security/device-deletes.yaml", "labs/10-security.md")
		says(t, "grep shadow_denied", "security/device-deletes.yaml", "labs/10-security.md")
	})

	t.Run("deletes enforced", func(t *testing.T) {
		enforced := s.Clone()
		if err := enforced.Kubectl(enforceDeletes); err != nil {
			t.Fatal(err)
		}
		if ap, _ := enforced.Get("AuthorizationPolicy", "device-deletes-need-a-developer"); lookup(ap.Doc, "metadata", "annotations", "istio.io/dry-run") != nil {
			t.Fatalf("%s left the annotation", enforceDeletes)
		}
		ip := fmt.Sprintf("127.%d.3.2", block)
		startInbound(t, generate(t, enforced, pods, aleph), aleph, p, ip)
		asFront := meshCaller(t, p, "front", fmt.Sprintf("%s:%d", ip, aleph.Ports["http"]), aleph.ServiceAccount)
		got := asFront.must(t, app, "DELETE", device, jason)
		if got.Status != 403 || got.Body != "RBAC: access denied" || got.Reached {
			t.Errorf("jason's DELETE enforced: %d %q, reached aleph: %v; want 403 \"RBAC: access denied\"", got.Status, got.Body, got.Reached)
		}
		got = asFront.must(t, app, "DELETE", device, developer)
		if got.Status != 428 || !got.Reached {
			t.Errorf("developer's DELETE enforced: %d %q, reached aleph: %v; want aleph's 428", got.Status, got.Body, got.Reached)
		}
	})

	// callers.yaml and strict-mtls.yaml: who may call aleph at all.
	t.Run("callers", func(t *testing.T) {
		got := asFront.must(t, app, "GET", "/version", "")
		if got.Status != 200 || !got.Reached {
			t.Errorf("front's identity: %d %q, reached aleph: %v", got.Status, got.Body, got.Reached)
		}
		asLoader := meshCaller(t, p, "loader", addr, aleph.ServiceAccount)
		if got := asLoader.must(t, app, "GET", "/version", ""); got.Status != 200 || !got.Reached {
			t.Errorf("the loader's identity: %d %q, reached aleph: %v", got.Status, got.Body, got.Reached)
		}
		asCurl := meshCaller(t, p, "curl", addr, aleph.ServiceAccount)
		got = asCurl.must(t, app, "GET", "/version", "")
		if got.Status != 403 || got.Body != "RBAC: access denied" || got.Reached {
			t.Errorf("curl's identity: %d %q, reached aleph: %v; want 403 \"RBAC: access denied\"", got.Status, got.Body, got.Reached)
		}
		// callers.yaml: aleph's sidecar logs it with the response code details.
		denied := regexp.MustCompile(`" 403 \S+ rbac_access_denied_matched_policy\[none\] `)
		if !waitFor(t, "403 rbac_access_denied_matched_policy[none] in aleph's sidecar's access log", func() bool {
			return denied.MatchString(sidecar.AccessLog())
		}) {
			t.Logf("access log:\n%s", sidecar.AccessLog())
		}
		// strict-mtls.yaml: no mesh identity, no answer at all.
		plain, err := plainCaller(addr).do(t, app, "GET", "/version", "")
		if err == nil || plain.Reached {
			t.Errorf("a plaintext caller under STRICT: %d %q, reached aleph: %v; want the connection closed", plain.Status, plain.Body, plain.Reached)
		} else {
			t.Logf("a plaintext caller under STRICT: %v", err)
		}
	})
	t.Logf("TestSecurity took %s", time.Since(start).Round(time.Millisecond))
}

// badTokenAnswers is what aleph's sidecar answers each bad token (jwt_verify_lib's status text).
var badTokenAnswers = map[string]struct {
	status int
	body   string
}{
	"a.b.c (request-authentication.yaml's example)": {401, "Jwt header is an invalid Base64url encoded"},
	"expired":         {401, "Jwt is expired"},
	"wrong signature": {401, "Jwt verification fails"},
	"wrong issuer":    {401, "Jwt issuer is not configured"},
	"alg none":        {401, "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"},
	"another key":     {401, "Jwks doesn't have key to match kid or alg from Jwt"},
	"oversized (20 KiB, payload not the signed one)": {401, "Jwt verification fails"},
	"larger than Envoy's 60 KiB of request headers":  {431, "Request Header Fields Too Large"},
}

func grepLines(text, word string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, word) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
