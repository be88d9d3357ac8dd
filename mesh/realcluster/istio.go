package realcluster

// Istio on the real cluster, the way scripts/setup-cluster installs it on a workshop machine.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"alephbeth/mesh/internal/tools"
)

// InstallIstio does what setup-cluster does once a cluster exists (sidecar mode): the Gateway
// API's CRDs at its pin (GATEWAY_API_VERSION, from that release's Go module instead of its
// GitHub download), `istioctl install -f cluster/istio.yaml` with the images made here and
// manifests/plain-envoy.yaml, cluster/telemetry.yaml, the add-ons' Services, and its namespace
// step (the commands its own dry run prints). Of the add-ons (ADDONS, from the pinned Istio's
// samples/addons) only the Services: their images (Prometheus, Grafana, Jaeger, Kiali) come
// from registries this machine does not reach, and the node would try them for ever; what the
// mesh needs of them is their names (istiod resolves the tracing providers' Services, and
// configures no tracer for a provider whose Service does not exist).
func (c *Cluster) InstallIstio() error {
	start := time.Now()
	gatewayVersion, err := tools.SetupValue(c.Root, "GATEWAY_API_VERSION")
	if err != nil {
		return err
	}
	gateway, err := downloadModule("sigs.k8s.io/gateway-api@" + gatewayVersion)
	if err != nil {
		return err
	}
	crds, _ := filepath.Glob(filepath.Join(gateway, "config", "crd", "standard", "*.yaml"))
	args := []string{"apply", "--server-side", "--force-conflicts"}
	for _, f := range crds {
		args = append(args, "-f", f)
	}
	if _, err := c.Kubectl(nil, args...); err != nil {
		return err
	}
	istioctl, err := tools.Istioctl(c.Root)
	if err != nil {
		return err
	}
	overlay, err := manifests.ReadFile("manifests/plain-envoy.yaml")
	if err != nil {
		return err
	}
	overlayFile, err := c.write("plain-envoy.yaml", string(overlay))
	if err != nil {
		return err
	}
	install := exec.Command(istioctl, "install", "-f", "cluster/istio.yaml", "-f", overlayFile,
		"--set", "hub="+IstioHub, "--set", "tag="+IstioTag, "-y")
	install.Dir, install.Env = c.Root, c.Env
	if out, err := install.CombinedOutput(); err != nil {
		return fmt.Errorf("istioctl install: %v\n%s", err, out)
	}
	if _, err := c.Kubectl(nil, "apply", "-f", "cluster/telemetry.yaml"); err != nil {
		return err
	}
	if err := c.installAddonServices(); err != nil {
		return err
	}
	if err := c.prepareNamespace(); err != nil {
		return err
	}
	c.logf("Istio installed (istiod, the ingress and egress gateways Ready; staging labelled) in %s", time.Since(start).Round(100*time.Millisecond))
	return nil
}

// prepareNamespace runs setup-cluster's namespace step, as its dry run prints it (sidecars).
func (c *Cluster) prepareNamespace() error {
	step, err := tools.SetupNamespaceCommands(c.Root)
	if err != nil {
		return err
	}
	for _, line := range step {
		if _, err := c.Shell(line, time.Minute); err != nil {
			return fmt.Errorf("setup-cluster's namespace step: %w", err)
		}
	}
	return nil
}

// Shell runs a command line in bash, in the repository's top folder, with the cluster's
// kubectl, istioctl and kubeconfig; it returns what it printed (both streams).
func (c *Cluster) Shell(line string, timeout time.Duration) (string, error) {
	cmd := exec.Command("bash", "-c", line)
	cmd.Dir, cmd.Env = c.Root, c.Env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	done := make(chan struct{})
	timer := time.AfterFunc(timeout, func() {
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
		close(done)
	})
	out, err := cmd.CombinedOutput()
	if !timer.Stop() {
		<-done
		return string(out), fmt.Errorf("%s: still running after %s", line, timeout)
	}
	if err != nil {
		return string(out), fmt.Errorf("%s: %v\n%s", line, err, out)
	}
	return string(out), nil
}

// downloadModule fetches path@version from Go's module cache or proxy, outside any module.
func downloadModule(pathAtVersion string) (string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", pathAtVersion)
	cmd.Dir = os.TempDir()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %v %s", pathAtVersion, err, out)
	}
	var dir string
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), `"Dir": "`); ok {
			dir = strings.TrimSuffix(strings.TrimSuffix(v, ","), `"`)
		}
	}
	if dir == "" {
		return "", fmt.Errorf("go mod download %s: no folder in %s", pathAtVersion, out)
	}
	return dir, nil
}

// installAddonServices applies the Services of setup-cluster's add-ons, as the pinned Istio's
// samples/addons define them.
func (c *Cluster) installAddonServices() error {
	addons, err := tools.SetupList(c.Root, "ADDONS")
	if err != nil {
		return err
	}
	istioDir, err := istioModule(c.Root)
	if err != nil {
		return err
	}
	var services []string
	for _, addon := range addons {
		data, err := os.ReadFile(filepath.Join(istioDir, "samples", "addons", addon+".yaml"))
		if err != nil {
			return err
		}
		for _, doc := range strings.Split(string(data), "\n---") {
			if regexp.MustCompile(`(?m)^kind: Service$`).MatchString(doc) {
				services = append(services, doc)
			}
		}
	}
	if _, err := c.Kubectl([]byte(strings.Join(services, "\n---\n")), "apply", "-f", "-"); err != nil {
		return err
	}
	c.logf("add-ons (%s): their %d Services only; their images cannot be pulled here", strings.Join(addons, ", "), len(services))
	return nil
}
