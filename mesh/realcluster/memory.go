package realcluster

// What the pods really used: each container's peak memory, read from its cgroup (the kernel's
// own high-water mark), beside its limit, its restarts and why it last ended.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ContainerMemory is one running container's peak and what bounds it.
type ContainerMemory struct {
	Namespace, Pod, Owner, Container string
	PeakBytes, LimitBytes            int64 // LimitBytes 0: none
	Restarts                         int
	LastReason                       string // e.g. OOMKilled; "" if it never ended
}

// Memory reads every running container of the namespace.
func (c *Cluster) Memory(namespace string) ([]ContainerMemory, error) {
	out, err := c.Kubectl(nil, "get", "pods", "-n", namespace, "-o", "json")
	if err != nil {
		return nil, err
	}
	var pods struct {
		Items []struct {
			Metadata struct {
				Name, UID       string
				Labels          map[string]string
				OwnerReferences []struct{ Name string } `json:"ownerReferences"`
			}
			Spec struct {
				Containers, InitContainers []struct {
					Name      string
					Resources struct{ Limits map[string]string }
				}
			}
			Status struct {
				ContainerStatuses, InitContainerStatuses []struct {
					Name, ContainerID string
					RestartCount      int
					LastState         struct {
						Terminated *struct{ Reason string }
					}
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &pods); err != nil {
		return nil, err
	}
	var all []ContainerMemory
	for _, p := range pods.Items {
		limits := map[string]string{}
		for _, ct := range append(p.Spec.Containers, p.Spec.InitContainers...) {
			limits[ct.Name] = ct.Resources.Limits["memory"]
		}
		owner := p.Metadata.Name
		if len(p.Metadata.OwnerReferences) > 0 {
			owner = p.Metadata.OwnerReferences[0].Name
		}
		for _, st := range append(p.Status.ContainerStatuses, p.Status.InitContainerStatuses...) {
			_, id, ok := strings.Cut(st.ContainerID, "://")
			if !ok {
				continue
			}
			m := ContainerMemory{Namespace: namespace, Pod: p.Metadata.Name, Owner: owner, Container: st.Name,
				Restarts: st.RestartCount, PeakBytes: peak(p.Metadata.UID, id), LimitBytes: quantity(limits[st.Name])}
			if st.LastState.Terminated != nil {
				m.LastReason = st.LastState.Terminated.Reason
			}
			all = append(all, m)
		}
	}
	return all, nil
}

// peak is a container's memory high-water mark: cgroup v1's memory.max_usage_in_bytes, or
// v2's memory.peak; -1 if not found.
func peak(podUID, containerID string) int64 {
	for _, pattern := range []string{
		"/sys/fs/cgroup/memory/kubepods/pod%s/%s/memory.max_usage_in_bytes",
		"/sys/fs/cgroup/memory/kubepods/*/pod%s/%s/memory.max_usage_in_bytes",
		"/sys/fs/cgroup/kubepods/pod%s/%s/memory.peak",
		"/sys/fs/cgroup/kubepods/*/pod%s/%s/memory.peak",
	} {
		files, _ := filepath.Glob(fmt.Sprintf(pattern, podUID, containerID))
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err == nil {
				if v, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64); err == nil {
					return v
				}
			}
		}
	}
	return -1
}

// quantity reads a memory quantity as the manifests write it (64Mi, 1Gi, 500M, bytes).
func quantity(q string) int64 {
	for suffix, unit := range map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "K": 1e3, "M": 1e6, "G": 1e9} {
		if n, ok := strings.CutSuffix(q, suffix); ok {
			v, _ := strconv.ParseInt(n, 10, 64)
			return v * unit
		}
	}
	v, _ := strconv.ParseInt(q, 10, 64)
	return v
}
