package mesh

import (
	"net/http"
	"testing"
	"time"
)

func TestSmokeDarkLaunch(t *testing.T) {
	s := NewState(root)
	for _, c := range []string{
		"kubectl apply -k deployments/ -n staging",
		"kubectl apply -f istio/dark-launch.yaml -n staging",
		"kubectl apply -f deployments/beth-v03.yaml -n staging",
	} {
		if err := s.Kubectl(c); err != nil {
			t.Fatal(err)
		}
	}
	pods := s.Pods(2)
	var caller Pod
	for _, p := range pods {
		if p.Deployment == "front" {
			caller = p
		}
	}
	apps := startApps(t, pods)
	g := generate(t, s, pods, caller)
	sc := startSidecar(t, g, caller, 2, nil)
	for _, cookie := range []string{"", "user=developer", "a=b; user=developer", "user=developer2"} {
		h := http.Header{}
		if cookie != "" {
			h.Set("Cookie", cookie)
		}
		a, err := sc.Call("beth", "/version", h, 5*time.Second)
		t.Logf("%q -> %+v %v", cookie, a, err)
	}
	_ = apps
}
