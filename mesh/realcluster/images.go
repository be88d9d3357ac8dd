package realcluster

// The images a node needs that cannot be pulled here, made with Docker from what this
// repository builds, and imported into the node's containerd (never pushed: their registry,
// alephbeth.invalid, does not exist). The images the manifests take from Docker Hub (MongoDB,
// curl) are imported from Docker's own store when it has them (in CI, the kit's stand-ins);
// otherwise the node pulls them as a learner's does. The project's own images are pulled from
// localhost:32000, as the manifests say.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"alephbeth/mesh/internal/tools"
)

// The images made here. IstioHub and IstioTag are what `istioctl install` is given.
const (
	PauseImage   = LocalHub + "/pause:1"
	CoreDNSImage = LocalHub + "/coredns:1.14.7"
	IstioHub     = LocalHub + "/istio"
	IstioTag     = "release-1.31-plain-envoy"
)

// docker is Debian's Docker client where it is (the kit's advice: the first on PATH may lack
// BuildKit's pieces), else the one on PATH.
func docker() string {
	if _, err := os.Stat("/usr/bin/docker"); err == nil {
		return "/usr/bin/docker"
	}
	return "docker"
}

// image is one image to build: its tag, Dockerfile and the files of its context.
type image struct {
	tag, dockerfile string
	files           map[string]string // name in the context: path on this machine
}

func (c *Cluster) images() ([]image, error) {
	istio, err := tools.IstioBinaries(c.Root)
	if err != nil {
		return nil, err
	}
	envoy, err := tools.Envoy(c.Root)
	if err != nil {
		return nil, err
	}
	// The venv's `envoy` is a Python launcher; the binary is in the package.
	envoyBin, err := filepath.Glob(filepath.Join(filepath.Dir(filepath.Dir(envoy)), "lib", "python3*", "site-packages", "envoy", "_bin", "envoy"))
	if err != nil || len(envoyBin) != 1 {
		return nil, fmt.Errorf("the Envoy binary in %s's package: %v", envoy, envoyBin)
	}
	istioDir, err := istioModule(c.Root)
	if err != nil {
		return nil, err
	}
	pause := filepath.Join(c.Data, "pause")
	build := exec.Command("go", "build", "-o", pause, "./realcluster/pause")
	build.Dir = filepath.Join(c.Root, "mesh")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the pause binary: %v\n%s", err, out)
	}
	bootstrap := filepath.Join(istioDir, "tools", "packaging", "common", "envoy_bootstrap.json")
	return []image{
		{PauseImage, "FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT [\"/pause\"]\n",
			map[string]string{"pause": pause}},
		{CoreDNSImage, "FROM scratch\nCOPY coredns /coredns\nENTRYPOINT [\"/coredns\"]\n",
			map[string]string{"coredns": c.Bins["coredns"]}},
		// Istio's own Dockerfile.pilot, on Debian instead of Istio's base image.
		{IstioHub + "/pilot:" + IstioTag, "FROM debian:bookworm-slim\nCOPY pilot-discovery /usr/local/bin/pilot-discovery\n" +
			"USER 1337:1337\nENTRYPOINT [\"/usr/local/bin/pilot-discovery\"]\n",
			map[string]string{"pilot-discovery": istio["pilot-discovery"]}},
		// Istio's own Dockerfile.proxyv2 with a plain Envoy, on Debian with the iptables its
		// base image has (istio-init redirects the pod's traffic with them) and its user 1337.
		{IstioHub + "/proxyv2:" + IstioTag, "FROM debian:bookworm-slim\n" +
			"RUN apt-get update && apt-get install -y --no-install-recommends iptables ca-certificates \\\n" +
			" && rm -rf /var/lib/apt/lists/* && useradd -m --uid 1337 istio-proxy \\\n" +
			" && update-alternatives --set iptables /usr/sbin/iptables-nft && update-alternatives --set ip6tables /usr/sbin/ip6tables-nft\n" +
			"COPY envoy_bootstrap.json /var/lib/istio/envoy/envoy_bootstrap_tmpl.json\n" +
			"COPY envoy /usr/local/bin/envoy\nCOPY pilot-agent /usr/local/bin/pilot-agent\n" +
			"ENTRYPOINT [\"/usr/local/bin/pilot-agent\"]\n",
			map[string]string{"envoy_bootstrap.json": bootstrap, "envoy": envoyBin[0], "pilot-agent": istio["pilot-agent"]}},
	}, nil
}

// istioModule is the folder of mesh/go.mod's pinned Istio in Go's module cache.
func istioModule(root string) (string, error) {
	dl := exec.Command("go", "mod", "download", "-json", "istio.io/istio")
	dl.Dir = filepath.Join(root, "mesh")
	if out, err := dl.Output(); err != nil {
		return "", fmt.Errorf("go mod download istio.io/istio: %v %s", err, out)
	}
	out, err := exec.Command("go", "-C", filepath.Join(root, "mesh"), "list", "-m", "-f", "{{.Dir}}", "istio.io/istio").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m istio.io/istio: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// importImages builds the images made here and imports them, with the Docker Hub images the
// manifests name that Docker has, into the node's containerd.
func (c *Cluster) importImages() error {
	start := time.Now()
	images, err := c.images()
	if err != nil {
		return err
	}
	var tags []string
	for _, im := range images {
		if err := buildImage(c.path("images"), im); err != nil {
			return err
		}
		tags = append(tags, im.tag)
	}
	hub, err := dockerHubImages(c.Root)
	if err != nil {
		return err
	}
	for _, ref := range hub {
		if exec.Command(docker(), "image", "inspect", ref).Run() == nil {
			tags = append(tags, ref)
		} else {
			c.logf("%s: not in Docker's store, the node pulls it", ref)
		}
	}
	save := exec.Command(docker(), append([]string{"save"}, tags...)...)
	imp := exec.Command("ctr", "--address", containerdSocket, "-n", "k8s.io", "images", "import", "-")
	pipe, err := save.StdoutPipe()
	if err != nil {
		return err
	}
	imp.Stdin = pipe
	var saveErr, impOut strings.Builder
	save.Stderr, imp.Stdout, imp.Stderr = &saveErr, &impOut, &impOut
	if err := save.Start(); err != nil {
		return err
	}
	if err := imp.Run(); err != nil {
		_ = save.Wait()
		return fmt.Errorf("ctr images import: %v\n%s%s", err, impOut.String(), saveErr.String())
	}
	if err := save.Wait(); err != nil {
		return fmt.Errorf("docker save: %v\n%s", err, saveErr.String())
	}
	c.logf("images imported into the node (%s) in %s", strings.Join(tags, ", "), time.Since(start).Round(100*time.Millisecond))
	return nil
}

// buildImage builds one image from a context of its own (Docker's layer cache makes a rebuild
// of unchanged files take a second).
func buildImage(dir string, im image) error {
	ctxDir := filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_").Replace(im.tag))
	if err := os.RemoveAll(ctxDir); err != nil {
		return err
	}
	if err := os.MkdirAll(ctxDir, 0o755); err != nil {
		return err
	}
	for name, src := range im.files {
		// A hard link where it can (the binaries are large), else a copy.
		if err := os.Link(src, filepath.Join(ctxDir, name)); err != nil {
			data, err := os.ReadFile(src)
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(ctxDir, name), data, 0o755); err != nil {
				return err
			}
		}
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(im.dockerfile), 0o644); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, docker(), "build", "-q", "-t", im.tag, ctxDir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("docker build -t %s: %v\n%s", im.tag, err, out)
	}
	return nil
}

var imageLine = regexp.MustCompile(`^\s*image:\s*(\S+)\s*$`)

// dockerHubImages are the images deployments/ names from anywhere but localhost:32000.
func dockerHubImages(root string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(root, "deployments", "*.yaml"))
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, f := range files {
		file, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		scanner := bufio.NewScanner(file)
		for scanner.Scan() {
			if m := imageLine.FindStringSubmatch(scanner.Text()); m != nil && !strings.HasPrefix(m[1], "localhost:32000/") {
				seen[m[1]] = true
			}
		}
		file.Close()
	}
	var refs []string
	for r := range seen {
		refs = append(refs, r)
	}
	sort.Strings(refs)
	return refs, nil
}

// ctr runs containerd's own client against the cluster's containerd.
func ctr(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return exec.CommandContext(ctx, "ctr", append([]string{"--address", containerdSocket}, args...)...).Run()
}
