// Package realcluster is the harness of the workshop on a real single-node Kubernetes: it
// builds the binaries (Kubernetes v1.35 and CoreDNS from kube/, Istio's pilot from mesh/), makes
// the images a node needs that cannot be pulled here (the pause image, CoreDNS, Istio's pilot and
// its proxy with a plain Envoy), starts etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, a containerd of its own, the kubelet and kube-proxy as host processes, CoreDNS
// as a pod, and installs Istio the way scripts/setup-cluster does. Stop (and, for what an
// interrupted run left, Clean) leaves nothing behind: no process, mount, network namespace,
// iptables chain, cgroup or changed kernel setting.
//
// Ordinary code with a small builder API, apart from the scenarios that use it
// (mesh/pages/cluster_test.go):
//
//	c, err := realcluster.New(root).Logf(t.Logf).Start()
//	defer c.Stop()
//	c.Kubectl(nil, "get", "pods", "-A")
//
// It needs root, containerd and runc (Debian's containerd, runc), the CNI plugins (Debian's
// containernetworking-plugins in /usr/lib/cni), iptables, and Docker to build the images.
package realcluster

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"alephbeth/mesh/internal/tools"
)

//go:embed manifests
var manifests embed.FS

const (
	// RunDir holds what must be short or machine-wide: sockets, network namespaces, runc's
	// state, the pids and the kernel settings before the run. One cluster per machine.
	RunDir = "/run/alephbeth-cluster"
	// NodeName is the one node's name.
	NodeName = "alephbeth"
	// Bridge is the pods' bridge, named so that cleaning up finds only this one.
	Bridge = "alephbeth0"
	// ServiceCIDR and PodCIDR are the cluster's address ranges; DNSIP is CoreDNS's Service.
	ServiceCIDR = "10.96.0.0/16"
	PodCIDR     = "10.244.0.0/16"
	DNSIP       = "10.96.0.10"
	// LocalHub names the images made here: .invalid, so that nothing ever pulls them from
	// anywhere; the node has them imported.
	LocalHub = "alephbeth.invalid"
)

// Builder sets up a cluster before it starts.
type Builder struct {
	root string
	logf func(string, ...any)
}

// New is a cluster for the repository at root.
func New(root string) *Builder {
	return &Builder{root: root, logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }}
}

// Logf sends the harness's progress to logf (t.Logf in a test).
func (b *Builder) Logf(logf func(string, ...any)) *Builder { b.logf = logf; return b }

// Cluster is a running single-node cluster.
type Cluster struct {
	Root    string
	Data    string // <root>/.local/cluster: etcd, containerd's and the kubelet's roots, logs
	NodeIP  string // the node's InternalIP: the machine's own address, where NodePorts answer
	Version string // Kubernetes' release, e.g. v1.35.4
	Env     []string
	Bins    map[string]string
	Started time.Time

	logf          func(string, ...any)
	server        string
	sysctlsBefore map[string]string
	procs         []*proc
	stopped       sync.Once
	lock          *os.File
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  string
}

// Start builds what it needs (once per pin), cleans up after an earlier run that was
// interrupted, and starts the cluster; it returns when the node is Ready and CoreDNS serves.
// An interrupt (SIGINT, SIGTERM, SIGHUP) stops it and exits.
func (b *Builder) Start() (*Cluster, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("a real cluster needs root (a kubelet, containerd, iptables)")
	}
	for _, tool := range []string{"containerd", "runc", "ctr", "iptables", "ip6tables", "docker"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("a real cluster needs %s on PATH (apt-get install containerd runc containernetworking-plugins iptables; Docker)", tool)
		}
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		return nil, errors.New("a real cluster needs the CNI plugins in /usr/lib/cni (apt-get install containernetworking-plugins)")
	}
	c := &Cluster{Root: b.root, Data: filepath.Join(b.root, ".local", "cluster"), logf: b.logf}
	// One cluster per machine: the bridge, the chains and the kernel settings are the machine's.
	lock, err := os.OpenFile(lockFile, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("another real cluster of this kit runs on this machine (%s is locked): stop it first", lockFile)
	}
	c.lock = lock
	if err := Clean(b.root, b.logf); err != nil {
		c.unlock()
		return nil, fmt.Errorf("cleaning up after an earlier run: %w", err)
	}
	if err := c.prepare(); err != nil {
		c.unlock()
		return nil, err
	}
	c.sysctlsBefore = readSysctls()
	c.handleSignals()
	c.Started = time.Now()
	if err := c.start(); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

const lockFile = "/run/alephbeth-cluster.lock"

func (c *Cluster) unlock() {
	if c.lock != nil {
		_ = os.Remove(lockFile)
		c.lock.Close()
		c.lock = nil
	}
}

// prepare builds what the cluster runs (once per pin) and records the kernel settings.
func (c *Cluster) prepare() error {
	var err error
	if c.Bins, err = tools.KubeBinaries(c.Root); err != nil {
		return err
	}
	if c.Version, err = tools.KubeVersion(c.Root); err != nil {
		return err
	}
	if c.NodeIP, err = nodeIP(); err != nil {
		return err
	}
	for _, d := range []string{RunDir, c.Data} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return saveSysctls()
}

// nodeIP is the address of the interface the default route leaves by (a VM's private address):
// the API server must advertise it, not loopback, for pods to reach it through its Service.
func nodeIP() (string, error) {
	out, err := exec.Command("ip", "-4", "route", "show", "default").Output()
	if err != nil {
		return "", fmt.Errorf("ip route: %w", err)
	}
	fields := strings.Fields(string(out))
	for i, f := range fields {
		if f == "dev" && i+1 < len(fields) {
			iface, err := net.InterfaceByName(fields[i+1])
			if err != nil {
				return "", err
			}
			addrs, _ := iface.Addrs()
			for _, a := range addrs {
				if ip, _, err := net.ParseCIDR(a.String()); err == nil && ip.To4() != nil {
					return ip.String(), nil
				}
			}
		}
	}
	return "", fmt.Errorf("no default route with an IPv4 address (ip route: %q): the node needs the machine's own address", strings.TrimSpace(string(out)))
}

var signalsOnce sync.Once

func (c *Cluster) handleSignals() {
	signalsOnce.Do(func() {
		signals := make(chan os.Signal, 1)
		signal.Notify(signals, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		go func() {
			s := <-signals
			fmt.Fprintf(os.Stderr, "realcluster: %v: stopping the cluster and cleaning up\n", s)
			c.Stop()
			os.Exit(1)
		}()
	})
}

// freePorts are n loopback TCP ports nobody listens on now (held together, so all differ).
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (c *Cluster) path(parts ...string) string {
	return filepath.Join(append([]string{c.Data}, parts...)...)
}

func (c *Cluster) write(name, text string) (string, error) {
	p := c.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", err
	}
	return p, os.WriteFile(p, []byte(text), 0o600)
}

// run starts a host process in a process group of its own, killed with this one (Pdeathsig);
// its output goes to <data>/logs/<name>.log and its pid to RunDir/pids/<name>.
func (c *Cluster) run(name string, args ...string) error {
	log := c.path("logs", name+".log")
	if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
		return err
	}
	out, err := os.Create(log)
	if err != nil {
		return err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: log}
	go func() { _ = cmd.Wait(); out.Close(); close(p.done) }()
	c.procs = append(c.procs, p)
	_ = os.MkdirAll(filepath.Join(RunDir, "pids"), 0o755)
	return os.WriteFile(filepath.Join(RunDir, "pids", name), []byte(fmt.Sprint(cmd.Process.Pid)), 0o644)
}

// Tail is the end of a component's log, for a failure's message.
func (c *Cluster) Tail(name string, n int) string {
	data, _ := os.ReadFile(c.path("logs", name+".log"))
	if len(data) > n {
		data = data[len(data)-n:]
	}
	return string(data)
}

// waitFor polls ready until it says yes, a process died, or the time is up.
func (c *Cluster) waitFor(what string, timeout time.Duration, ready func() bool) error {
	deadline := time.Now().Add(timeout)
	for !ready() {
		for _, p := range c.procs {
			select {
			case <-p.done:
				return fmt.Errorf("%s died while waiting for %s; its log ends:\n%s", p.name, what, c.Tail(p.name, 3000))
			default:
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not in %s", what, timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
	c.logf("%s, %s after the start", what, time.Since(c.Started).Round(100*time.Millisecond))
	return nil
}

// Kubectl runs the cluster's kubectl in the repository's top folder (the pages' paths are
// from there), stdin from input if not nil; it returns stdout, and stderr as the error's text.
func (c *Cluster) Kubectl(input []byte, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Bins["kubectl"], args...)
	cmd.Dir = c.Root
	cmd.Env = c.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
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
		return stdout.String(), fmt.Errorf("kubectl %s: %s", strings.Join(args, " "), msg)
	}
	return stdout.String(), nil
}

// Retry runs kubectl until it succeeds, for the races of a fresh cluster (a namespace without
// its default ServiceAccount yet, a webhook not answering yet).
func (c *Cluster) Retry(timeout time.Duration, input []byte, args ...string) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		out, err := c.Kubectl(input, args...)
		if err == nil || time.Now().After(deadline) {
			return out, err
		}
		time.Sleep(2 * time.Second)
	}
}

// Stop stops every process, in the order that lets each let go of what it holds, and cleans up.
func (c *Cluster) Stop() {
	c.stopped.Do(func() {
		start := time.Now()
		byName := map[string]*proc{}
		for _, p := range c.procs {
			byName[p.name] = p
		}
		stop := func(names ...string) {
			for _, n := range names {
				if p := byName[n]; p != nil {
					stopProcess(p)
				}
			}
		}
		// No more pods started; then every pod sandbox stopped (CNI DEL: addresses, veths,
		// port maps) and removed while containerd still runs.
		stop("kubelet", "kube-scheduler", "kube-controller-manager")
		if byName["containerd"] != nil {
			if err := removeSandboxes(); err != nil {
				c.logf("removing the pods' sandboxes: %v", err)
			}
		}
		stop("kube-proxy", "containerd", "kube-apiserver", "etcd")
		if err := Clean(c.Root, c.logf); err != nil {
			c.logf("cleaning up: %v", err)
		}
		c.unlock()
		c.logf("cluster stopped and cleaned up in %s", time.Since(start).Round(100*time.Millisecond))
	})
}

// stopProcess ends a process's group: SIGTERM, then SIGKILL after 15 s.
func stopProcess(p *proc) {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	_ = os.Remove(filepath.Join(RunDir, "pids", p.name))
}
