// Package mesh holds the lab as a cluster would: the state the pages' kubectl commands leave
// (state.go, kubectl.go), the pods its Deployments run (pods.go) and the stage list
// (stages.go). Its tests judge every lab step with Istio's own code: istioctl analyze, and the
// configuration Istio's pilot generates for a sidecar or the waypoint, run in a real Envoy in
// front of pods that behave as their stage (`go test ./...`). They also hold deployments/ and
// istio/ to the project's own rules, what neither the schemas (scripts/validate-manifests) nor
// Istio check, each proven on broken cases (rules_test.go, `go test -run TestRules`).
package mesh
