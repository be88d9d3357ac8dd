package mesh

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// step is one moment of a lab page: the kubectl commands that lead to it, typed as the page
// types them (TestScenarioCommandsAreThePages holds them to the page), and what the page says
// a learner sees there.
type step struct {
	page     string
	commands []string
	name     string // the check's name, "" for none
	caller   string // the Deployment whose sidecar sends the traffic (front: page loads)
	setup    func(*Mesh)
	check    func(*testing.T, *Mesh)
}

func apply(files ...string) string {
	return "kubectl apply -f " + strings.Join(files, " -f ") + " -n staging"
}

const (
	deploy       = "labs/01-deploy.md"
	observe      = "labs/02-observe.md"
	darkLaunchPg = "labs/04-dark-launch.md"
	mirrorPg     = "labs/05-mirror.md"
	canaryPg     = "labs/06-canary.md"
	resilience   = "labs/07-resilience.md"
	wrapUp       = "labs/08-wrap-up.md"
	autopilotPg  = "labs/09-autopilot.md"
)

func breakOneAleph(m *Mesh) { m.AppsOf("aleph")[0].SetFaults(1, 500) }

// scenario lists the steps of the labs in page order, one way (api "istio": istio/, or
// "gateway-api": istio/gateway-api/); the commands of the other way are left out.
func scenario(api string) []step {
	dir := "istio/"
	if api == "gateway-api" {
		dir = "istio/gateway-api/"
	}
	mesh := func(f string) string { return dir + f + ".yaml" }
	canary := func(f string, v01, v03 float64) step {
		return step{page: canaryPg, commands: []string{apply(mesh(f))}, name: f, caller: "loader",
			check: shares("beth", map[string]float64{"0.1": v01, "0.3": v03}, 400)}
	}
	alephCanary := func(f string, p float64) step {
		return step{page: wrapUp, commands: []string{apply(mesh(f))}, name: f, caller: "loader",
			check: shares("aleph", map[string]float64{"0.1": 1 - p, "0.3": p}, 400)}
	}
	steps := []step{
		{page: deploy, commands: []string{"kubectl apply -k deployments/ -n staging",
			apply(mesh("front-vs")), apply(mesh("aleph-vs")), apply(mesh("beth-vs")), apply(mesh("gateway"))},
			name: "first stage", caller: "front", check: firstStage},
		{page: observe, commands: []string{apply("deployments/curl.yaml")},
			name: "curl pod", caller: "curl", check: answersAll("aleph", "0.1", 5)},
		{page: darkLaunchPg, commands: []string{apply(mesh("dark-launch")), apply("deployments/beth-v03.yaml")},
			name: "dark launch", caller: "front", check: func(t *testing.T, m *Mesh) {
				darkLaunch("beth", "0.1", "0.3")(t, m)
				if api == "istio" {
					routeOrder("outbound|80|v03|beth.staging.svc.cluster.local", "outbound|80|v01|beth.staging.svc.cluster.local")(t, m)
				} else {
					routeOrder("outbound|80||beth-v03.staging.svc.cluster.local", "outbound|80||beth-v01.staging.svc.cluster.local")(t, m)
				}
			}},
		{page: mirrorPg, commands: []string{apply(mesh("mirroring")), apply("deployments/loader.yaml")},
			name: "mirror", caller: "loader", check: mirror("beth", "0.1", "beth-v03")},
		canary("canary", 0.99, 0.01),
		canary("canary-10", 0.9, 0.1),
		canary("canary-50", 0.5, 0.5),
		canary("canary-100", 0, 1),
		{page: canaryPg, commands: []string{"kubectl delete deploy/beth -n staging"},
			name: "0.1 retired", caller: "loader", check: answersAll("beth", "0.3", 20)},
		{page: resilience, commands: []string{apply("deployments/beth.yaml"), apply(mesh("beth-timeout"))},
			name: "timeout", caller: "loader", check: timeout},
	}
	if api == "istio" {
		steps = append(steps,
			step{page: resilience, commands: []string{apply(mesh("beth-circuit-breaker"))},
				name: "circuit breaker", caller: "loader", check: circuitBreaker("v01|beth")},
			step{page: resilience, name: "circuit breaker, page loads", caller: "front", check: pageLoads},
			step{page: resilience, commands: []string{apply("istio/dark-launch.yaml", "istio/canary-100.yaml"),
				"kubectl delete deploy/beth -n staging"},
				name: "back to stage 6", caller: "loader", check: answersAll("beth", "0.3", 20)},
		)
	} else {
		steps = append(steps,
			step{page: resilience, commands: []string{apply(mesh("beth-circuit-breaker"))},
				name: "circuit breaker", caller: "loader", check: circuitBreaker("beth-v01")},
			step{page: resilience, name: "circuit breaker, page loads", caller: "front", check: pageLoads},
			step{page: resilience, commands: []string{"kubectl delete destinationrule beth-v01 -n staging",
				apply(mesh("canary-100")), "kubectl delete deploy/beth -n staging"},
				name: "back to stage 6", caller: "loader", check: answersAll("beth", "0.3", 20)},
		)
	}
	steps = append(steps,
		step{page: resilience, commands: []string{"kubectl set env deploy/aleph FAULT_ERROR_RATE=0.5 FAULT_ERROR_STATUS=500 -n staging"},
			name: "flaky aleph", caller: "loader", check: okShare("aleph", 0.5, 200)})
	retries := []string{apply("istio/aleph-retries.yaml")}
	if api == "gateway-api" {
		retries = append([]string{"kubectl delete httproute aleph -n staging"}, retries...)
	}
	steps = append(steps,
		step{page: resilience, commands: retries,
			name: "retries", caller: "loader", check: retriesHide},
		step{page: resilience, commands: []string{"kubectl set env deploy/aleph FAULT_ERROR_RATE- FAULT_ERROR_STATUS- -n staging"}})
	if api == "istio" {
		steps = append(steps,
			step{page: resilience, commands: []string{apply("istio/aleph-fault-delay.yaml")},
				name: "fault delay", caller: "front", check: faultDelay},
			step{page: resilience, commands: []string{apply("istio/aleph-fault-abort.yaml")},
				name: "fault abort", caller: "front", check: faultAbort},
			step{page: resilience, commands: []string{apply("istio/aleph-vs.yaml")}},
		)
	} else {
		steps = append(steps,
			step{page: resilience, commands: []string{"kubectl delete -f istio/aleph-retries.yaml -n staging",
				apply("istio/gateway-api/aleph-vs.yaml")}, name: "aleph's route back", caller: "front",
				check: answersAll("aleph", "0.1", 5)},
			step{page: resilience, commands: []string{"kubectl set env deploy/aleph FAULT_DELAY=12s -n staging"},
				name: "knob delay", caller: "front", check: knobDelay},
			step{page: resilience, commands: []string{"kubectl set env deploy/aleph FAULT_DELAY- FAULT_ERROR_RATE=1 FAULT_ERROR_STATUS=503 -n staging"},
				name: "knob abort", caller: "front", check: knobAbort},
			step{page: resilience, commands: []string{"kubectl set env deploy/aleph FAULT_ERROR_RATE- FAULT_ERROR_STATUS- -n staging"}},
		)
	}
	steps = append(steps,
		step{page: resilience, commands: []string{"kubectl scale deploy/aleph --replicas=3 -n staging"},
			name: "one bad pod", caller: "loader", setup: breakOneAleph, check: withoutOutlierDetection},
		step{page: resilience, commands: []string{apply("istio/aleph-outlier-detection.yaml")},
			name: "outlier detection", caller: "loader", setup: breakOneAleph, check: outlier},
		step{page: resilience, commands: []string{"kubectl delete -f istio/aleph-outlier-detection.yaml -n staging",
			"kubectl scale deploy/aleph --replicas=1 -n staging"}},
	)
	if api == "istio" {
		steps = append(steps, step{page: wrapUp, commands: []string{apply("istio/aleph-dr.yaml", "istio/aleph-mirror.yaml"),
			apply("deployments/aleph-v02.yaml")}, name: "aleph 0.2 mirrored", caller: "loader", check: mirror("aleph", "0.1", "aleph-v02")})
	} else {
		steps = append(steps, step{page: wrapUp, commands: []string{apply(mesh("aleph-mirror")),
			apply("deployments/aleph-v02.yaml")}, name: "aleph 0.2 mirrored", caller: "loader", check: mirror("aleph", "0.1", "aleph-v02")})
	}
	steps = append(steps,
		step{page: wrapUp, commands: []string{"kubectl delete -f deployments/aleph-v02.yaml -n staging",
			apply("deployments/aleph-v03.yaml"), apply(mesh("aleph-dr-v03"))},
			name: "aleph 0.3 mirrored", caller: "loader", check: mirror("aleph", "0.1", "aleph-v03")},
		alephCanary("aleph-canary-20", 0.2),
		alephCanary("aleph-canary-40", 0.4),
		alephCanary("aleph-canary-60", 0.6),
		alephCanary("aleph-canary-80", 0.8),
		alephCanary("aleph-canary-100", 1),
		// Stage 9's set-up, then Argo Rollouts' objects as they are applied, before a release:
		// every call to aleph goes to aleph-stable by the weights Argo starts from.
		step{page: autopilotPg, commands: []string{"kubectl delete virtualservice aleph -n staging --ignore-not-found",
			"kubectl delete destinationrule aleph -n staging --ignore-not-found",
			"kubectl delete deploy/aleph-v02 deploy/aleph-v03 -n staging --ignore-not-found",
			apply("deployments/aleph.yaml")}},
	)
	argo := []string{apply("autopilot/argo/analysis-template.yaml"), apply("autopilot/argo/services.yaml")}
	if api == "istio" {
		argo = append(argo, apply("autopilot/argo/aleph-rollout.yaml"))
	} else {
		argo = append(argo, "kubectl delete httproute aleph -n staging --ignore-not-found",
			apply("autopilot/argo/gateway-api/aleph-rollout.yaml"))
	}
	return append(steps, step{page: autopilotPg, commands: argo, name: "argo rollouts, before a release",
		caller: "loader", check: answersAll("aleph", "0.1", 20)})
}

// states replays a scenario's commands and returns the state at each step.
func states(t *testing.T, api string) ([]step, []*State) {
	t.Helper()
	s := NewState(root)
	steps := scenario(api)
	var out []*State
	for _, st := range steps {
		for _, c := range st.commands {
			if err := s.Kubectl(c); err != nil {
				t.Fatalf("%s: %v", st.page, err)
			}
		}
		out = append(out, s.Clone())
	}
	return steps, out
}

// Every command of the scenario is typed on its page, as it is written here.
func TestScenarioCommandsAreThePages(t *testing.T) {
	for _, api := range []string{"istio", "gateway-api"} {
		for _, st := range scenario(api) {
			page, err := os.ReadFile(filepath.Join(root, st.page))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range st.commands {
				if !strings.Contains(string(page), c) {
					t.Errorf("%s does not type %q", st.page, c)
				}
			}
		}
	}
}

// blocks hands each running step a loopback block of its own (127.<block>.0.0/16).
var blocks atomic.Int32

// TestLabTraffic drives each step's traffic through the configuration Istio generates for the
// calling sidecar, in a real Envoy, and asserts what the page says a learner sees.
func TestLabTraffic(t *testing.T) {
	for _, api := range []string{"istio", "gateway-api"} {
		t.Run(api, func(t *testing.T) {
			runSteps(t, api, func(st step) func(*testing.T, *Mesh) { return st.check },
				func(t *testing.T, s *State, pods []Pod, caller Pod, block int, _ map[string]*AppPod) Proxy {
					bootstrap, err := istioBootstrap(caller)
					if err != nil {
						t.Fatal(err)
					}
					return startSidecar(t, generate(t, s, pods, caller), caller, block, bootstrap)
				})
		})
	}
}

// runSteps runs, each in parallel with the others, the steps of one way that checkOf gives a
// check: the step's pods serve at a loopback block of their own, start gives the proxy the
// caller's traffic goes through.
func runSteps(t *testing.T, api string, checkOf func(step) func(*testing.T, *Mesh),
	start func(t *testing.T, s *State, pods []Pod, caller Pod, block int, apps map[string]*AppPod) Proxy) {
	steps, snapshots := states(t, api)
	for i, st := range steps {
		check := checkOf(st)
		if check == nil {
			continue
		}
		// With what the set-up puts beside the app: cluster/'s Telemetry (tracing, access logs;
		// no zipkin Service here, so Istio leaves the tracer out).
		s := snapshots[i].Clone()
		if err := s.Kubectl(apply(clusterFiles)); err != nil {
			t.Fatal(err)
		}
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			block := int(blocks.Add(1)) + 1
			pods := s.Pods(block)
			var caller *Pod
			for i := range pods {
				if pods[i].Deployment == st.caller {
					caller = &pods[i]
					break
				}
			}
			if caller == nil {
				t.Fatalf("no %s pod at this step", st.caller)
			}
			apps := startApps(t, pods)
			m := &Mesh{Proxy: start(t, s, pods, *caller, block, apps), Apps: apps}
			if st.setup != nil {
				st.setup(m)
			}
			check(t, m)
		})
	}
}

// Every file of istio/ and istio/gateway-api/ is applied at some step of a scenario, so Istio's
// own code judges each of them.
func TestScenarioAppliesEveryMeshFile(t *testing.T) {
	applied := map[string]bool{}
	for _, api := range []string{"istio", "gateway-api"} {
		for _, st := range scenario(api) {
			for _, c := range st.commands {
				f := strings.Fields(c)
				for i := range f {
					if f[i] == "-f" && i+1 < len(f) {
						applied[f[i+1]] = true
					}
				}
			}
		}
	}
	for _, pattern := range []string{"istio/*.yaml", "istio/gateway-api/*.yaml"} {
		files, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			rel, _ := filepath.Rel(root, f)
			if !applied[rel] {
				t.Errorf("%s is applied at no step of the scenario (scenario_test.go)", rel)
			}
		}
	}
}
