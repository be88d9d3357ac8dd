// Package tools holds what the tests of mesh and of mesh/pages both take from the machine:
// istioctl built from this module's pinned Istio, free loopback ports, and the pins and lists
// of scripts/setup-cluster.
package tools

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var istioctl struct {
	once sync.Once
	bin  string
	err  error
}

// Istioctl builds istioctl from this module's pinned Istio into <root>/.local/bin, once per pin
// (Go's module and build caches make a later build take seconds). .local/bin/istioctl.pin names
// the istio.io/istio version it was built from; another pin builds it again.
func Istioctl(root string) (string, error) {
	istioctl.once.Do(func() { istioctl.bin, istioctl.err = buildIstioctl(root) })
	return istioctl.bin, istioctl.err
}

func buildIstioctl(root string) (string, error) {
	bin := filepath.Join(root, ".local", "bin", "istioctl")
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "istio.io/istio").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m istio.io/istio: %w", err)
	}
	pin := strings.TrimSpace(string(out))
	if built, err := os.ReadFile(bin + ".pin"); err == nil && string(built) == pin {
		if _, err := os.Stat(bin); err == nil {
			return bin, nil
		}
	}
	// Static, as pilot-discovery and pilot-agent are built (IstioBinaries): one build cache for the three.
	cmd := exec.Command("go", "build", "-o", bin, "istio.io/istio/istioctl/cmd/istioctl")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building istioctl: %w", err)
	}
	return bin, os.WriteFile(bin+".pin", []byte(pin), 0o644)
}

// FreePort is a loopback TCP port nobody listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// SetupValue is NAME's value in scripts/setup-cluster, where the workshop's pins live: a line
// NAME=value or NAME=${NAME:-value}.
func SetupValue(root, name string) (string, error) {
	data, err := setupCluster(root)
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^` + name + `=(?:\$\{` + name + `:-)?([^}\s]+)\}?$`).FindSubmatch(data)
	if m == nil {
		return "", fmt.Errorf("no %s=... in scripts/setup-cluster", name)
	}
	return string(m[1]), nil
}

// SetupList is the bash array NAME=(a b c) of scripts/setup-cluster.
func SetupList(root, name string) ([]string, error) {
	data, err := setupCluster(root)
	if err != nil {
		return nil, err
	}
	m := regexp.MustCompile(`(?m)^` + name + `=\(([^)]*)\)`).FindSubmatch(data)
	if m == nil {
		return nil, fmt.Errorf("no %s=(...) in scripts/setup-cluster", name)
	}
	return strings.Fields(string(m[1])), nil
}

func setupCluster(root string) ([]byte, error) {
	return os.ReadFile(filepath.Join(root, "scripts", "setup-cluster"))
}

// SetupNamespaceCommands are the kubectl commands of setup-cluster's namespace step for a
// sidecar cluster, as its own dry run prints them (`kind --dry-run`, step "namespace staging").
func SetupNamespaceCommands(root string) ([]string, error) {
	dry := exec.Command(filepath.Join(root, "scripts", "setup-cluster"), "kind", "--dry-run")
	dry.Dir = root
	out, err := dry.Output()
	if err != nil {
		return nil, fmt.Errorf("scripts/setup-cluster kind --dry-run: %w", err)
	}
	var step []string
	in := false
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "== ") {
			in = strings.HasPrefix(line, "== namespace staging")
			continue
		}
		if in && strings.HasPrefix(line, "+ kubectl ") {
			step = append(step, strings.TrimPrefix(line, "+ "))
		}
	}
	if len(step) == 0 {
		return nil, fmt.Errorf("scripts/setup-cluster kind --dry-run: no kubectl command in its step \"namespace staging\"")
	}
	return step, nil
}
