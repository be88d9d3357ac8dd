package mesh

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"

	"istio.io/istio/pkg/bootstrap"
	"istio.io/istio/pkg/config/mesh"
)

// istioBootstrap is the bootstrap Istio's agent writes for the pod: the mesh's defaultConfig
// merged with the pod's proxy.istio.io/config annotation (as the injector does), its
// sidecar.istio.io/stats* annotations, through Istio's own bootstrap template. Its stats
// matcher decides which of Envoy's counters `pilot-agent request GET stats` can show.
func istioBootstrap(pod Pod) (map[string]any, error) {
	mc, err := meshConfig()
	if err != nil {
		return nil, err
	}
	pc := mc.DefaultConfig
	if a, ok := pod.Annotations["proxy.istio.io/config"]; ok {
		if pc, err = mesh.MergeProxyConfig(a, mc.DefaultConfig); err != nil {
			return nil, fmt.Errorf("%s: proxy.istio.io/config: %w", pod.Name, err)
		}
	}
	node, err := bootstrap.GetNodeMetaData(bootstrap.MetadataOptions{
		ID:          "sidecar~" + pod.IP + "~" + pod.Name + "." + Namespace + "~" + Namespace + ".svc.cluster.local",
		InstanceIPs: []string{pod.IP},
		ProxyConfig: pc,
	})
	if err != nil {
		return nil, err
	}
	node.Metadata.Annotations = pod.Annotations
	dir, err := goModDir("istio.io/istio")
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	template := filepath.Join(dir, "tools", "packaging", "common", "envoy_bootstrap.json")
	if err := bootstrap.New(bootstrap.Config{Node: node}).WriteTo(template, &out); err != nil {
		return nil, err
	}
	var b map[string]any
	if err := json.Unmarshal(out.Bytes(), &b); err != nil {
		return nil, fmt.Errorf("Istio's bootstrap: %w", err)
	}
	return b, nil
}
