package mesh

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// pki stands in for istiod's CA and istio-agent's SDS in ambient mode: a root (Envoy's secret
// ROOTCA) and SPIFFE workload certificates (its secret default), as Istio issues them.
type pki struct {
	ca    *x509.Certificate
	key   *ecdsa.PrivateKey
	caPEM []byte
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"cluster.local"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &pki{ca: ca, key: key, caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// secrets are the static secrets of the names istio-agent's SDS would serve a proxy: its
// workload certificate ("default") and the mesh's root ("ROOTCA").
func (p *pki) secrets(certPEM, keyPEM []byte) []any {
	return []any{
		map[string]any{"name": "default", "tls_certificate": map[string]any{
			"certificate_chain": map[string]any{"inline_bytes": certPEM},
			"private_key":       map[string]any{"inline_bytes": keyPEM},
		}},
		map[string]any{"name": "ROOTCA", "validation_context": map[string]any{
			"trusted_ca": map[string]any{"inline_bytes": p.caPEM},
		}},
	}
}

// workload issues the certificate of a service account in staging
// (spiffe://cluster.local/ns/staging/sa/<sa>), with a DNS name for Go's own checks.
func (p *pki) workload(t *testing.T, sa string) (certPEM, keyPEM []byte, cert tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := url.Parse("spiffe://cluster.local/ns/" + Namespace + "/sa/" + sa)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		URIs:         []*url.URL{id},
		DNSNames:     []string{sa},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM, cert
}

func (p *pki) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return pool
}

// startHBONE stands in for ztunnel on a pod's node: it takes the waypoint's HBONE tunnels to
// <pod>:15008 (mutual TLS with the pod's identity, HTTP/2 CONNECT) and connects each to the
// address the tunnel names, the app's port.
func startHBONE(t *testing.T, p *pki, pod Pod) {
	t.Helper()
	_, _, cert := p.workload(t, pod.ServiceAccount)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodConnect {
				http.Error(w, "HBONE takes CONNECT only", http.StatusMethodNotAllowed)
				return
			}
			upstream, err := net.Dial("tcp", r.Host)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer upstream.Close()
			w.WriteHeader(http.StatusOK)
			rc := http.NewResponseController(w)
			_ = rc.Flush()
			done := make(chan struct{})
			go func() {
				_, _ = io.Copy(upstream, r.Body)
				if c, ok := upstream.(*net.TCPConn); ok {
					_ = c.CloseWrite()
				}
				close(done)
			}()
			buf := make([]byte, 32*1024)
			for {
				n, err := upstream.Read(buf)
				if n > 0 {
					if _, werr := w.Write(buf[:n]); werr != nil {
						break
					}
					_ = rc.Flush()
				}
				if err != nil {
					break
				}
			}
			<-done
		}),
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    p.pool(),
			MinVersion:   tls.VersionTLS13,
			NextProtos:   []string{"h2"},
		},
	}
	if err := http2.ConfigureServer(srv, &http2.Server{}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", pod.IP+":15008")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
}

// Ztunnel is the calling pod's side in ambient mode: its node's ztunnel sends each call to a
// Service through the waypoint, in an HBONE tunnel (mutual TLS as the caller's identity, HTTP/2
// CONNECT to the Service's cluster IP and port), and the call travels inside as the app wrote it.
type Ztunnel struct {
	*envoyProcess // the waypoint
	waypoint      string
	clusterIPs    map[string]string
	transport     *http2.Transport
}

func newZtunnel(t *testing.T, p *pki, caller Pod, waypoint *envoyProcess, addr string, clusterIPs map[string]string) *Ztunnel {
	_, _, cert := p.workload(t, caller.ServiceAccount)
	return &Ztunnel{
		envoyProcess: waypoint,
		waypoint:     addr,
		clusterIPs:   clusterIPs,
		transport: &http2.Transport{TLSClientConfig: &tls.Config{
			Certificates: []tls.Certificate{cert},
			RootCAs:      p.pool(),
			ServerName:   "waypoint",
			MinVersion:   tls.VersionTLS13,
			NextProtos:   []string{"h2"},
		}},
	}
}

// Call sends one HTTP/1.1 request to http://host/path through the waypoint.
func (z *Ztunnel) Call(host, path string, header http.Header, timeout time.Duration) (Answer, error) {
	ip, ok := z.clusterIPs[host]
	if !ok {
		return Answer{}, fmt.Errorf("no Service %q", host)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	body, tunnelIn := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodConnect, "https://"+z.waypoint, body)
	if err != nil {
		return Answer{}, err
	}
	req.Host = ip + ":80"
	start := time.Now()
	resp, err := z.transport.RoundTrip(req)
	if err != nil {
		return Answer{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Answer{}, fmt.Errorf("HBONE CONNECT to %s: %s", req.Host, resp.Status)
	}
	inner, err := http.NewRequest(http.MethodGet, "http://"+host+path, nil)
	if err != nil {
		return Answer{}, err
	}
	for k, v := range header {
		inner.Header[k] = v
	}
	go func() {
		_ = inner.Write(tunnelIn)
	}()
	answer, err := http.ReadResponse(bufio.NewReader(resp.Body), inner)
	if err != nil {
		return Answer{}, err
	}
	defer answer.Body.Close()
	b, err := io.ReadAll(answer.Body)
	_ = tunnelIn.Close()
	if err != nil {
		return Answer{}, err
	}
	return Answer{Status: answer.StatusCode, Body: string(b), Overflow: answer.Header.Get("x-envoy-overloaded") != "",
		Took: time.Since(start)}, nil
}

// CallNewConnection: every call is a tunnel of its own already.
func (z *Ztunnel) CallNewConnection(host, path string, timeout time.Duration) (Answer, error) {
	return z.Call(host, path, nil, timeout)
}
