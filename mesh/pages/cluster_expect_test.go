package pages

// What the pages say a learner sees, held against what the real cluster printed: one
// expectation per statement (its page, a part of its text, which occurrence of it in the page
// for one way of the two), each quoting the page. The runner is cluster_test.go.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// expectation is what a page says a statement shows; Check gets what it printed.
type expectation struct {
	Page, Stmt string
	Nth        int    // the statement's occurrence in the page (0: every one)
	Way        string // "" for both ways
	Says       string // the page's words
	Check      func(r *pageRun, out string) error
	// Again: the page says to run it once more if the first try shows the moment before (the
	// old pod still serving for the seconds it takes to stop).
	Again bool
}

// versionsShown are the front page's rows, as the pages' `curl ... | grep -E 'class="(...)"'`
// print them: each backend's address (aleph), then "version 0.1", or its problem.
var (
	addressLine = regexp.MustCompile(`class="address">(?:https?://)?([a-z0-9-]+)`)
	versionLine = regexp.MustCompile(`class="(?:version|problem)">(?:version )?([^<]*)<`)
)

func versionsShown(out string) map[string]string {
	shown := map[string]string{}
	service := ""
	for _, line := range strings.Split(out, "\n") {
		if m := addressLine.FindStringSubmatch(line); m != nil {
			service = m[1]
		}
		if m := versionLine.FindStringSubmatch(line); m != nil && service != "" {
			shown[service] = strings.TrimSpace(m[1])
		}
	}
	return shown
}

// shows: the front page's rows say these versions (or problems, by a part of their text).
func shows(want map[string]string) func(*pageRun, string) error {
	return func(_ *pageRun, out string) error {
		got := versionsShown(out)
		for service, w := range want {
			if !strings.Contains(got[service], w) {
				return fmt.Errorf("the page showed %q:\n%s", got, indent(out))
			}
		}
		return nil
	}
}

// realTime is bash's `time`: "real 0m2.034s".
func realTime(out string) (time.Duration, error) {
	m := regexp.MustCompile(`real\s+(\d+)m([\d.]+)s`).FindStringSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no `real` time in %q", out)
	}
	min, _ := strconv.Atoi(m[1])
	sec, _ := strconv.ParseFloat(m[2], 64)
	return time.Duration(min)*time.Minute + time.Duration(sec*float64(time.Second)), nil
}

// took: bash's `time` says between min and max.
func took(min, max time.Duration, then func(*pageRun, string) error) func(*pageRun, string) error {
	return func(r *pageRun, out string) error {
		d, err := realTime(out)
		if err != nil {
			return err
		}
		if d < min || d > max {
			return fmt.Errorf("it took %s (%s to %s wanted)", d.Round(10*time.Millisecond), min, max)
		}
		return then(r, out)
	}
}

func contains(parts ...string) func(*pageRun, string) error {
	return func(_ *pageRun, out string) error {
		for _, p := range parts {
			if !strings.Contains(out, p) {
				return fmt.Errorf("%q is not in what it printed:\n%s", p, indent(out))
			}
		}
		return nil
	}
}

// loaderSummary is the loader's closing line: "... in 30.0s: 600 requests, 50.0% ok".
func loaderSummary(out string) (requests int, ok float64, err error) {
	m := regexp.MustCompile(`(\d+) requests, ([\d.]+)% ok`).FindStringSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("no loader summary in:\n%s", indent(out))
	}
	requests, _ = strconv.Atoi(m[1])
	ok, _ = strconv.ParseFloat(m[2], 64)
	return requests, ok / 100, nil
}

// okShare: the loader's share of 2xx answers is p, within four standard deviations of a
// binomial count over its requests (plus slack for what a real pod adds: a first call, a
// retry's timing).
func okShare(p, slack float64) func(*pageRun, string) error {
	return func(_ *pageRun, out string) error {
		n, got, err := loaderSummary(out)
		if err != nil {
			return err
		}
		if n < 100 {
			return fmt.Errorf("only %d requests", n)
		}
		sd := sqrt(p * (1 - p) / float64(n))
		if got < p-4*sd-slack || got > p+4*sd+slack {
			return fmt.Errorf("%.1f%% ok of %d requests (%.1f%% expected, ±%.1f)", got*100, n, p*100, (4*sd+slack)*100)
		}
		return nil
	}
}

func sqrt(x float64) float64 {
	z := x
	for i := 0; i < 30 && z > 0; i++ {
		z = (z + x/z) / 2
	}
	return z
}

// loaderShare: 15 s after the statement (a whole window of the loader's after it), the loader's
// last line gives the answer `answer` a share within four standard deviations of p over the
// window's requests.
func loaderShare(answer string, p float64) func(*pageRun, string) error {
	return func(r *pageRun, _ string) error {
		time.Sleep(15 * time.Second)
		out, err := r.c.Kubectl(nil, "logs", "deploy/loader", "loader", "-n", "staging", "--tail", "1")
		if err != nil {
			return err
		}
		m := regexp.MustCompile(`last \S+: (\d+) req, .*\| (.*) \| total`).FindStringSubmatch(out)
		if m == nil {
			return fmt.Errorf("no window in the loader's line %q", out)
		}
		n, _ := strconv.Atoi(m[1])
		got := 0.0
		for _, part := range strings.Split(m[2], ", ") {
			if a, share, ok := strings.Cut(part, " "); ok && a == answer {
				got, _ = strconv.ParseFloat(strings.TrimSuffix(share, "%"), 64)
				got /= 100
			}
		}
		sd := sqrt(p * (1 - p) / float64(n))
		if n < 100 || got < p-4*sd || got > p+4*sd {
			return fmt.Errorf("the loader's last window: %s %.1f%% of %d requests (%.0f%% expected, ±%.1f): %q", answer, got*100, n, p*100, 4*sd*100, out)
		}
		return nil
	}
}

var clusterExpectations = []expectation{
	{Page: "01-deploy.md", Stmt: `kubectl get pods -n staging`, Says: "four pods (mongo, aleph, beth, front), each 2/2 READY",
		Check: func(r *pageRun, _ string) error { return r.podsReady("mongo", "aleph", "beth", "front") }},
	{Page: "01-deploy.md", Stmt: `curl -s "$FRONT/"`, Says: "aleph version 0.1, and beth version 0.1",
		Check: shows(map[string]string{"aleph": "0.1", "beth": "0.1"})},
	{Page: "02-observe.md", Stmt: `kubectl get telemetry mesh-default`, Says: "`zipkin`", Check: func(_ *pageRun, out string) error {
		if strings.TrimSpace(out) != "zipkin" {
			return fmt.Errorf("it printed %q", out)
		}
		return nil
	}},
	{Page: "02-observe.md", Stmt: `http://beth/headers`, Says: "a JSON object with the cookie you sent, and the x-request-id and trace headers",
		Check: contains(`"cookie"`, "user=developer", "x-request-id", "x-b3-traceid", "x-b3-spanid")},
	{Page: "03-kill-replace.md", Stmt: `time curl -s "$FRONT/"`, Says: "the page load at once now, and beth still saying version 0.1",
		Check: took(0, time.Second, shows(map[string]string{"beth": "0.1"})), Again: true},
	{Page: "04-dark-launch.md", Stmt: `curl -s "$FRONT/"`, Says: "0.1 (no cookie)", Check: shows(map[string]string{"beth": "0.1"})},
	{Page: "04-dark-launch.md", Stmt: `curl -s -H 'Cookie: user=developer' "$FRONT/"`, Says: "0.3 (user=developer)",
		Check: shows(map[string]string{"beth": "0.3"})},
	{Page: "04-dark-launch.md", Stmt: `curl -s -H 'Cookie: theme=dark; user=developer' "$FRONT/"`, Says: "0.3 (a=b; user=developer)",
		Check: shows(map[string]string{"beth": "0.3"})},
	{Page: "04-dark-launch.md", Stmt: `curl -s -H 'Cookie: user=developer2' "$FRONT/"`, Says: "0.1 (user=developer2)",
		Check: shows(map[string]string{"beth": "0.1"})},
	{Page: "04-dark-launch.md", Stmt: `istioctl analyze -n staging`, Says: "`No validation issues found`",
		Check: contains("No validation issues found")},
	{Page: "04-dark-launch.md", Stmt: `istioctl proxy-config routes deployment/front`, Way: "istio",
		Says:  "the cookie regex, the cluster of the subset v03, then the one of v01",
		Check: contains(`"regex"`, "outbound|80|v03|beth.staging.svc.cluster.local", "outbound|80|v01|beth.staging.svc.cluster.local")},
	{Page: "05-mirror.md", Stmt: `kubectl logs -f deploy/loader loader`, Says: "`0.1 100.0%`, 100% ok",
		Check: contains("0.1 100.0%", "100.0% ok")},
	{Page: "05-mirror.md", Stmt: `kubectl logs deploy/beth-v03 beth`, Says: "beth 0.3's access lines for GET /version, status 200",
		Check: contains(`"path":"/version"`, `"status":200`)},
	{Page: "06-canary.md", Stmt: `canary-10.yaml`, Way: "istio", Says: "`0.1 90%, 0.3 10%` give or take", Check: loaderShare("0.3", 0.1)},
	{Page: "06-canary.md", Stmt: `canary-50.yaml`, Way: "istio", Says: "the loader shows the two answers about evenly", Check: loaderShare("0.3", 0.5)},
	{Page: "06-canary.md", Stmt: `canary-100.yaml`, Way: "istio", Says: "`0.3 100.0%`", Check: loaderShare("0.3", 1)},
	{Page: "07-resilience.md", Stmt: `time curl -s "$FRONT/"`, Nth: 1, Says: "the page in 1 s instead of 2, beth's line `Error: 504`",
		Check: took(0, 1800*time.Millisecond, shows(map[string]string{"beth": "Error: 504"}))},
	{Page: "07-resilience.md", Stmt: `pilot-agent request GET stats`, Says: "upstream_rq_pending_overflow: the calls refused",
		Check: contains("upstream_rq_pending_overflow")},
	{Page: "07-resilience.md", Stmt: `loader http://aleph/version --rate 20 --duration 30s`, Nth: 1, Says: "about 50% ok",
		Check: okShare(0.5, 0)},
	{Page: "07-resilience.md", Stmt: `loader http://aleph/version --rate 20 --duration 30s`, Nth: 2, Says: "about 94% ok",
		Check: okShare(1-1.0/16, 0.01)},
	{Page: "07-resilience.md", Stmt: `time curl -s -H 'Cookie: user=developer' "$FRONT/"`, Says: "the page after 10 s with the aleph line `Is taking too long to answer`",
		Check: took(9500*time.Millisecond, 13*time.Second, shows(map[string]string{"aleph": "Is taking too long to answer"}))},
	{Page: "07-resilience.md", Stmt: `curl -s -H 'Cookie: user=developer' "$FRONT/"`, Nth: 2, Way: "istio", Says: "the aleph line `Error: 503` at once",
		Check: shows(map[string]string{"aleph": "Error: 503"})},
	{Page: "07-resilience.md", Stmt: `loader http://aleph/version --rate 20 --duration 30s`, Nth: 3, Says: "about 67% ok: one call in three lands on the broken pod",
		Check: okShare(2.0/3, 0.02)},
	{Page: "07-resilience.md", Stmt: `loader http://aleph/version --rate 20 --duration 60s`, Says: "nearly 100% ok",
		Check: func(_ *pageRun, out string) error {
			if _, ok, err := loaderSummary(out); err != nil || ok < 0.95 {
				return fmt.Errorf("%.1f%% ok (%v)", ok*100, err)
			}
			return nil
		}},
	{Page: "07-resilience.md", Stmt: `GET clusters`, Says: "the broken pod's address with `failed_outlier_check`",
		Check: contains("failed_outlier_check")},
	{Page: "08-wrap-up.md", Stmt: `--duration 2m`, Says: "in the loader: `0.1 100.0%`, 100% ok", Check: okShare(1, 0)},
	{Page: "08-wrap-up.md", Stmt: `--max-error-rate 0.01`, Says: "the gate passes at each step", Check: contains("within the allowed")},
}

// podsReady: each app's pod in staging shows 2/2 in kubectl's READY column (the app and its
// istio-proxy, a native sidecar), read as a learner reads it once the pods had time to start.
func (r *pageRun) podsReady(apps ...string) error {
	_, _ = r.c.Kubectl(nil, "wait", "--for=condition=Ready", "pods", "--all", "-n", "staging", "--timeout=3m")
	out, err := r.c.Kubectl(nil, "get", "pods", "-n", "staging", "--no-headers")
	if err != nil {
		return err
	}
	for _, app := range apps {
		pod := regexp.MustCompile(`(?m)^` + app + `-[a-z0-9]+-[a-z0-9]{5}\s+(\S+)`).FindStringSubmatch(out)
		if pod == nil || pod[1] != "2/2" {
			return fmt.Errorf("%s's pod is not 2/2:\n%s", app, indent(out))
		}
	}
	return nil
}
