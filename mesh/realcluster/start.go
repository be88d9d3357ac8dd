package realcluster

// The cluster's start, component by component, in the order each needs the one before.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func (c *Cluster) start() error {
	steps := []struct {
		name string
		fn   func() error
	}{
		{"certificates", c.makeCertificates},
		{"control plane", c.startControlPlane},
		{"container runtime", c.startContainerd},
		{"images", c.importImages},
		{"node", c.startNode},
		{"DNS", c.startDNS},
	}
	for _, s := range steps {
		if err := s.fn(); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
	}
	return nil
}

// makeCertificates makes a CA, the API server's serving certificate (for 10.96.0.1, the node's
// address, loopback and the kubernetes.default names), the service accounts' key pair, and a
// static token in system:masters that every component and kubectl use.
func (c *Cluster) makeCertificates() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTemplate := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "alephbeth-cluster-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, _ := x509.ParseCertificate(caDER)
	serverKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serverTemplate := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(48 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("10.96.0.1"), net.ParseIP(c.NodeIP), net.ParseIP("127.0.0.1")},
		DNSNames:    []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"}}
	serverDER, err := x509.CreateCertificate(rand.Reader, serverTemplate, ca, &serverKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	pemOf := func(kind string, der []byte) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}))
	}
	keyPEM := func(k *ecdsa.PrivateKey) string {
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		return pemOf("PRIVATE KEY", der)
	}
	saPub, _ := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	token := hex.EncodeToString(secret)
	for name, text := range map[string]string{
		"pki/ca.crt": pemOf("CERTIFICATE", caDER), "pki/apiserver.crt": pemOf("CERTIFICATE", serverDER),
		"pki/apiserver.key": keyPEM(serverKey), "pki/sa.key": keyPEM(saKey), "pki/sa.pub": pemOf("PUBLIC KEY", saPub),
		"pki/tokens.csv": token + `,cluster-admin,cluster-admin,"system:masters"` + "\n",
	} {
		if _, err := c.write(name, text); err != nil {
			return err
		}
	}
	return c.writeKubeconfig(token)
}

func (c *Cluster) writeKubeconfig(token string) error {
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	c.server = fmt.Sprintf("https://%s:%d", c.NodeIP, ports[0])
	kubeconfig, err := c.write("kubeconfig", fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: alephbeth
  cluster: {server: %q, certificate-authority: %q}
users:
- name: cluster-admin
  user: {token: %q}
contexts:
- name: alephbeth
  context: {cluster: alephbeth, user: cluster-admin, namespace: default}
current-context: alephbeth
`, c.server, c.path("pki", "ca.crt"), token))
	if err != nil {
		return err
	}
	home := c.path("home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	// The pages' commands find the cluster's kubectl and istioctl first on PATH.
	c.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "HOME="+home,
		"PATH="+filepath.Join(c.Root, ".local", "bin")+":"+os.Getenv("PATH"))
	return nil
}

func (c *Cluster) startControlPlane() error {
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	if err := c.run("etcd", c.Bins["etcd"], "--name=alephbeth", "--data-dir="+c.path("etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL, "--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL, "--initial-cluster=alephbeth="+peerURL, "--unsafe-no-fsync",
		"--log-level=warn"); err != nil {
		return err
	}
	port := c.server[strings.LastIndex(c.server, ":")+1:]
	pki := func(f string) string { return c.path("pki", f) }
	if err := c.run("kube-apiserver", c.Bins["kube-apiserver"], "--etcd-servers="+etcdURL,
		"--bind-address="+c.NodeIP, "--advertise-address="+c.NodeIP, "--secure-port="+port,
		"--tls-cert-file="+pki("apiserver.crt"), "--tls-private-key-file="+pki("apiserver.key"),
		"--token-auth-file="+pki("tokens.csv"), "--authorization-mode=RBAC", "--anonymous-auth=false",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+pki("sa.pub"), "--service-account-signing-key-file="+pki("sa.key"),
		"--service-cluster-ip-range="+ServiceCIDR, "--allow-privileged=true",
		// exec, logs and port-forward reach the kubelet at the node's address: its name is
		// in no DNS.
		"--kubelet-preferred-address-types=InternalIP,Hostname", "--v=0"); err != nil {
		return err
	}
	if err := c.waitFor("the API server ready", 2*time.Minute, func() bool {
		_, err := c.Kubectl(nil, "get", "--raw", "/readyz")
		return err == nil
	}); err != nil {
		return err
	}
	kubeconfig := c.path("kubeconfig")
	if err := c.run("kube-controller-manager", c.Bins["kube-controller-manager"], "--kubeconfig="+kubeconfig,
		"--root-ca-file="+pki("ca.crt"), "--service-account-private-key-file="+pki("sa.key"),
		"--use-service-account-credentials=true", "--cluster-cidr="+PodCIDR, "--service-cluster-ip-range="+ServiceCIDR,
		"--leader-elect=false", "--secure-port=0", "--v=0"); err != nil {
		return err
	}
	return c.run("kube-scheduler", c.Bins["kube-scheduler"], "--kubeconfig="+kubeconfig, "--leader-elect=false",
		"--secure-port=0", "--v=0")
}

// startContainerd starts a containerd of its own (its own root, state, socket and runc root:
// Docker's is never touched), with the CRI settings this machine needs and the CNI network of
// the node: a bridge, its port maps, and the firewall plugin (Docker sets FORWARD's policy to
// DROP).
func (c *Cluster) startContainerd() error {
	cni := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "alephbeth",
  "plugins": [
    {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}],
              "dataDir": %q}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "firewall"}
  ]
}
`, Bridge, c.path("cni-ipam"))
	if _, err := c.write("cni/10-alephbeth.conflist", cni); err != nil {
		return err
	}
	// The registry the manifests pull from, over plain HTTP, as MicroK8s' containerd has it.
	if _, err := c.write("certs.d/localhost:32000/hosts.toml",
		"server = \"http://localhost:32000\"\n\n[host.\"http://localhost:32000\"]\n  capabilities = [\"pull\", \"resolve\"]\n"); err != nil {
		return err
	}
	config, err := c.write("containerd.toml", fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing"]

[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  # Nothing here may lower oom_score_adj (no CAP_SYS_RESOURCE): without this every sandbox fails.
  restrict_oom_score_adj = true
  # The pods' network namespaces under the state directory, not /run/netns.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = %[7]q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[8]q
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = %[9]q
`, c.path("containerd"), filepath.Join(RunDir, "containerd"), containerdSocket, containerdSocket+".ttrpc",
		c.path("containerd-opt"), PauseImage, filepath.Join(RunDir, "runc"), c.path("cni"), c.path("certs.d")))
	if err != nil {
		return err
	}
	if err := c.run("containerd", "containerd", "--config", config); err != nil {
		return err
	}
	return c.waitFor("containerd ready", time.Minute, func() bool {
		return ctr("version") == nil
	})
}

const containerdSocket = RunDir + "/containerd.sock"

// startNode starts the kubelet and kube-proxy, and waits for the node to be Ready.
func (c *Cluster) startNode() error {
	// The kubelet's port and healthz port, kube-proxy's metrics and healthz ports.
	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	kubeletPort, healthzPort, metricsPort, proxyHealthz := ports[0], ports[1], ports[2], ports[3]
	resolv, err := c.write("resolv.conf", "nameserver 127.0.0.1\n")
	if err != nil {
		return err
	}
	// cgroup v1 machines (these): failCgroupV1 false. No webhook authentication: the API
	// server's exec, logs and port-forward reach the kubelet anonymously, on this machine only.
	config, err := c.write("kubelet.yaml", fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
address: %q
port: %d
healthzPort: %d
readOnlyPort: 0
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
clusterDNS: [%q]
clusterDomain: cluster.local
resolvConf: %q
containerRuntimeEndpoint: unix://%s
serializeImagePulls: false
evictionHard: {memory.available: 100Mi, nodefs.available: 2%%, imagefs.available: 2%%}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
`, c.NodeIP, kubeletPort, healthzPort, DNSIP, resolv, containerdSocket))
	if err != nil {
		return err
	}
	kubeconfig := c.path("kubeconfig")
	if err := c.run("kubelet", c.Bins["kubelet"], "--config="+config, "--kubeconfig="+kubeconfig,
		"--root-dir="+c.path("kubelet"), "--hostname-override="+NodeName, "--node-ip="+c.NodeIP, "--v=0"); err != nil {
		return err
	}
	// NodePorts on the node's address only (not loopback: that needs route_localnet); the
	// conntrack settings left as the machine has them.
	proxyConfig, err := c.write("kube-proxy.yaml", fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: %q}
mode: iptables
clusterCIDR: %q
hostnameOverride: %q
bindAddress: %q
healthzBindAddress: 127.0.0.1:%d
metricsBindAddress: 127.0.0.1:%d
nodePortAddresses: [%q]
iptables: {localhostNodePorts: false}
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
`, kubeconfig, PodCIDR, NodeName, c.NodeIP, proxyHealthz, metricsPort, c.NodeIP+"/32"))
	if err != nil {
		return err
	}
	if err := c.run("kube-proxy", c.Bins["kube-proxy"], "--config="+proxyConfig, "--v=0"); err != nil {
		return err
	}
	return c.waitFor("the node Ready", 3*time.Minute, func() bool {
		out, err := c.Kubectl(nil, "get", "node", NodeName, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		return err == nil && out == "True"
	})
}

// startDNS deploys CoreDNS (manifests/coredns.yaml) and waits for it.
func (c *Cluster) startDNS() error {
	manifest, err := manifests.ReadFile("manifests/coredns.yaml")
	if err != nil {
		return err
	}
	manifest = []byte(strings.Replace(string(manifest), "image: IMAGE", "image: "+CoreDNSImage, 1))
	if _, err := c.Retry(time.Minute, manifest, "apply", "-f", "-"); err != nil {
		return err
	}
	_, err = c.Kubectl(nil, "rollout", "status", "deployment/coredns", "-n", "kube-system", "--timeout=3m")
	if err == nil {
		c.logf("CoreDNS ready, %s after the start", time.Since(c.Started).Round(100*time.Millisecond))
	}
	return err
}
