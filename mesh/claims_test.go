package mesh

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"istio.io/istio/pilot/pkg/config/kube/crd"
	"istio.io/istio/pkg/config/validation"
)

// TestClaimRoutingIsGatewayOnly: page 10 says the slides' dark launch cannot route by the token's
// claims instead of the cookie. Istio's own validation (what istiod's webhook runs on
// `kubectl apply`) is the judge: istio/dark-launch.yaml with its cookie match replaced by a
// `@request.auth.claims.groups` match is refused for the mesh, and taken once bound to a gateway.
func TestClaimRoutingIsGatewayOnly(t *testing.T) {
	text, err := os.ReadFile(filepath.Join(root, "istio", "dark-launch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	cookie := "            cookie:\n              regex: '^(.*?;\\s*)?(user=developer)(;.*)?$'\n"
	if !strings.Contains(string(text), cookie) {
		t.Fatalf("istio/dark-launch.yaml no longer matches the cookie this test replaces:\n%s", cookie)
	}
	byClaim := strings.Replace(string(text), cookie,
		"            \"@request.auth.claims.groups\":\n              exact: developers\n", 1)
	validate := func(yamlText string) error {
		// Parsing validates too, as the API server's webhook does.
		configs, _, err := crd.ParseInputs(yamlText)
		if err != nil {
			return err
		}
		for _, c := range configs {
			if c.GroupVersionKind.Kind == "VirtualService" {
				_, err := validation.ValidateVirtualService(c)
				return err
			}
		}
		t.Fatal("no VirtualService")
		return nil
	}
	if err := validate(string(text)); err != nil {
		t.Fatalf("istio/dark-launch.yaml itself: %v", err)
	}
	err = validate(byClaim)
	const refusal = "is only supported for gateway"
	if err == nil || !strings.Contains(err.Error(), refusal) {
		t.Fatalf("the dark launch by claim, for the mesh: %v; want Istio's %q", err, refusal)
	}
	t.Logf("Istio refuses it: %v", err)
	says(t, refusal, "labs/10-security.md")
	// Bound to the ingress gateway (istio/gateway.yaml's), Istio takes it.
	atGateway := strings.Replace(byClaim, "  hosts:\n", "  gateways:\n    - front-gateway\n  hosts:\n", 1)
	if err := validate(atGateway); err != nil {
		t.Errorf("the same bound to a gateway: %v", err)
	}
}
