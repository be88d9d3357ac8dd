package realcluster

// Leaving nothing behind: what Stop does after the processes end, and what Start does first
// about an earlier run that was killed before it could.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	cri "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// removeSandboxes stops and removes every pod sandbox through the CRI, as the kubelet would:
// the containers end, CNI takes back each pod's address, veth and port maps, and the network
// namespace goes.
func removeSandboxes() error {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	conn, err := grpc.NewClient("unix://"+containerdSocket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := cri.NewRuntimeServiceClient(conn)
	list, err := client.ListPodSandbox(ctx, &cri.ListPodSandboxRequest{})
	if err != nil {
		return err
	}
	var errs []error
	for _, s := range list.Items {
		if _, err := client.StopPodSandbox(ctx, &cri.StopPodSandboxRequest{PodSandboxId: s.Id}); err != nil {
			errs = append(errs, fmt.Errorf("stopping %s: %w", s.Metadata.GetName(), err))
		}
		if _, err := client.RemovePodSandbox(ctx, &cri.RemovePodSandboxRequest{PodSandboxId: s.Id}); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", s.Metadata.GetName(), err))
		}
	}
	return errors.Join(errs...)
}

// Clean removes what a cluster of this repository left on the machine: its processes (by the
// pids it kept, its containerd's shims, and anything in the pods' cgroups), its mounts, the
// pods' bridge, the iptables chains of Kubernetes and CNI, the pods' cgroups, the kernel
// settings it changed (put back as they were before), and its folders. Nothing there: nothing done.
func Clean(root string, logf func(string, ...any)) error {
	data := filepath.Join(root, ".local", "cluster")
	_, errRun := os.Stat(RunDir)
	_, errData := os.Stat(data)
	if errRun != nil && errData != nil {
		return nil
	}
	var errs []error
	note := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	killRecorded()
	killShims()
	killCgroups()
	note(unmountUnder(RunDir, data))
	note(removeLink(Bridge))
	note(cleanIptables())
	note(removeCgroups())
	restored, err := restoreSysctls()
	note(err)
	if len(restored) > 0 {
		logf("kernel settings put back as they were: %s", strings.Join(restored, ", "))
	}
	note(os.RemoveAll(RunDir))
	note(os.RemoveAll(data))
	return errors.Join(errs...)
}

func killRecorded() {
	entries, _ := os.ReadDir(filepath.Join(RunDir, "pids"))
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join(RunDir, "pids", e.Name()))
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 1 {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// killShims ends the containerd shims of this cluster's containerd (found by its socket in
// their command line); Docker's are left alone.
func killShims() {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, _ := os.ReadFile(p)
		if strings.Contains(string(data), "containerd-shim") && strings.Contains(string(data), containerdSocket) {
			if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

// cgroupRoots are the kubelet's cgroups (cgroupfs driver) in each hierarchy.
func cgroupRoots() []string {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	if _, err := os.Stat("/sys/fs/cgroup/kubepods"); err == nil {
		roots = append(roots, "/sys/fs/cgroup/kubepods")
	}
	return roots
}

// killCgroups kills whatever still runs in the pods' cgroups.
func killCgroups() {
	for _, root := range cgroupRoots() {
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || (d.Name() != "cgroup.procs" && d.Name() != "tasks") {
				return nil
			}
			data, _ := os.ReadFile(path)
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			return nil
		})
	}
	time.Sleep(200 * time.Millisecond)
}

// removeCgroups removes the pods' cgroups, the deepest first.
func removeCgroups() error {
	var errs []error
	for _, root := range cgroupRoots() {
		var dirs []string
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}

// unmountUnder unmounts every mount below the folders (containers' root filesystems, the pods'
// volumes and network namespaces), the deepest first.
func unmountUnder(dirs ...string) error {
	file, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	defer file.Close()
	var points []string
	scanner := bufio.NewScanner(file)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 5 {
			continue
		}
		point := unescapeMount(fields[4])
		for _, d := range dirs {
			if point == d || strings.HasPrefix(point, d+"/") {
				points = append(points, point)
			}
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("umount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMount reads mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func removeLink(name string) error {
	if _, err := os.Stat("/sys/class/net/" + name); err != nil {
		return nil
	}
	if out, err := exec.Command("ip", "link", "delete", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip link delete %s: %v %s", name, err, out)
	}
	return nil
}

// ours is a chain that Kubernetes (the kubelet, kube-proxy) or the CNI plugins made.
func ours(chain string) bool {
	return strings.HasPrefix(chain, "KUBE-") || strings.HasPrefix(chain, "CNI-")
}

// cleanIptables removes, in IPv4 and IPv6, every rule that jumps to such a chain, then the
// chains. Docker's chains and rules stay as they are.
func cleanIptables() error {
	var errs []error
	for _, bin := range []string{"iptables", "ip6tables"} {
		for _, table := range []string{"filter", "nat", "mangle", "raw"} {
			out, err := exec.Command(bin, "-w", "-t", table, "-S").Output()
			if err != nil {
				continue // a table this kernel lacks
			}
			var chains []string
			for _, line := range strings.Split(string(out), "\n") {
				f := strings.Fields(line)
				switch {
				case len(f) >= 2 && f[0] == "-N" && ours(f[1]):
					chains = append(chains, f[1])
				case len(f) >= 2 && f[0] == "-A" && !ours(f[1]) && jumpsToOurs(f):
					// The rule as iptables printed it, deleted: its quoting is the shell's.
					del := exec.Command("sh", "-c", bin+" -w -t "+table+" -D "+strings.TrimPrefix(line, "-A "))
					if out, err := del.CombinedOutput(); err != nil && !gone(out) {
						errs = append(errs, fmt.Errorf("%s -t %s %s: %v %s", bin, table, line, err, out))
					}
				}
			}
			for _, verb := range []string{"-F", "-X"} {
				for _, chain := range chains {
					if out, err := exec.Command(bin, "-w", "-t", table, verb, chain).CombinedOutput(); err != nil && !gone(out) {
						errs = append(errs, fmt.Errorf("%s -t %s %s %s: %v %s", bin, table, verb, chain, err, out))
					}
				}
			}
		}
	}
	return errors.Join(errs...)
}

// gone: iptables says the rule or chain is not there (removed since it was listed).
func gone(out []byte) bool {
	return strings.Contains(string(out), "No chain/target/match") || strings.Contains(string(out), "does a matching rule exist")
}

func jumpsToOurs(fields []string) bool {
	for i, f := range fields {
		if (f == "-j" || f == "-g") && i+1 < len(fields) && ours(fields[i+1]) {
			return true
		}
	}
	return false
}

// sysctlFile keeps the kernel settings as they were before the cluster started.
var sysctlFile = filepath.Join(RunDir, "sysctl-before.json")

// sysctlDirs are where the kubelet, kube-proxy, the CNI plugins and containerd write settings.
var sysctlDirs = []string{"/proc/sys/vm", "/proc/sys/kernel", "/proc/sys/net/ipv4", "/proc/sys/net/ipv6",
	"/proc/sys/net/bridge", "/proc/sys/net/netfilter", "/proc/sys/net/core", "/proc/sys/fs"}

// readSysctls reads every setting that can be written there, but the interfaces' own (the
// pods' veths come and go) and the counters that change by themselves.
func readSysctls() map[string]string {
	values := map[string]string{}
	for _, dir := range sysctlDirs {
		_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.IsDir() {
				if parent := filepath.Base(filepath.Dir(path)); (parent == "conf" || parent == "neigh") &&
					d.Name() != "all" && d.Name() != "default" {
					return filepath.SkipDir
				}
				if d.Name() == "random" {
					return filepath.SkipDir
				}
				return nil
			}
			info, err := d.Info()
			if err != nil || info.Mode().Perm()&0o200 == 0 || info.Mode().Perm()&0o444 == 0 || path == "/proc/sys/kernel/ns_last_pid" {
				return nil
			}
			if data, err := os.ReadFile(path); err == nil {
				values[path] = string(data)
			}
			return nil
		})
	}
	return values
}

// saveSysctls records the settings, once per run (a run that was killed kept its record).
func saveSysctls() error {
	if _, err := os.Stat(sysctlFile); err == nil {
		return nil
	}
	data, err := json.Marshal(readSysctls())
	if err != nil {
		return err
	}
	return os.WriteFile(sysctlFile, data, 0o600)
}

// restoreSysctls puts back every recorded setting that changed, and says which.
func restoreSysctls() ([]string, error) {
	data, err := os.ReadFile(sysctlFile)
	if err != nil {
		return nil, nil
	}
	var before map[string]string
	if err := json.Unmarshal(data, &before); err != nil {
		return nil, err
	}
	now := readSysctls()
	var restored []string
	var errs []error
	for path, was := range before {
		if is, ok := now[path]; ok && is != was {
			if err := os.WriteFile(path, []byte(was), 0o644); err != nil {
				errs = append(errs, fmt.Errorf("%s back to %q: %w", path, strings.TrimSpace(was), err))
				continue
			}
			restored = append(restored, fmt.Sprintf("%s %s -> %s", strings.ReplaceAll(strings.TrimPrefix(path, "/proc/sys/"), "/", "."),
				strings.TrimSpace(is), strings.TrimSpace(was)))
		}
	}
	sort.Strings(restored)
	return restored, errors.Join(errs...)
}

// Leftovers says what a stopped cluster left on the machine (nothing, when Stop did its job):
// processes, mounts, iptables chains, the bridge, cgroups, folders, and kernel settings not as
// they were before Start.
func (c *Cluster) Leftovers() []string {
	var left []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, _ := os.ReadFile(p)
		cmdline := strings.ReplaceAll(string(data), "\x00", " ")
		if strings.Contains(cmdline, containerdSocket) || strings.Contains(cmdline, c.Data) ||
			strings.Contains(cmdline, filepath.Join(c.Root, ".local", "bin")) {
			left = append(left, "process "+filepath.Base(filepath.Dir(p))+": "+cmdline)
		}
	}
	if mounts, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(mounts), "\n") {
			if f := strings.Fields(line); len(f) > 4 && (strings.HasPrefix(unescapeMount(f[4]), RunDir) || strings.HasPrefix(unescapeMount(f[4]), c.Data)) {
				left = append(left, "mount "+f[4])
			}
		}
	}
	for _, bin := range []string{"iptables", "ip6tables"} {
		for _, table := range []string{"filter", "nat", "mangle", "raw"} {
			out, _ := exec.Command(bin, "-w", "-t", table, "-S").Output()
			for _, line := range strings.Split(string(out), "\n") {
				if f := strings.Fields(line); len(f) >= 2 && f[0] == "-N" && ours(f[1]) {
					left = append(left, bin+" -t "+table+" chain "+f[1])
				}
			}
		}
	}
	if _, err := os.Stat("/sys/class/net/" + Bridge); err == nil {
		left = append(left, "link "+Bridge)
	}
	left = append(left, cgroupRoots()...)
	for _, d := range []string{RunDir, c.Data} {
		if _, err := os.Stat(d); err == nil {
			left = append(left, "folder "+d)
		}
	}
	now := readSysctls()
	for path, was := range c.sysctlsBefore {
		if is, ok := now[path]; ok && is != was {
			left = append(left, fmt.Sprintf("kernel setting %s: %s, was %s", path, strings.TrimSpace(is), strings.TrimSpace(was)))
		}
	}
	sort.Strings(left)
	return left
}
