package mesh

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// kinds maps the names the pages type after `kubectl delete` to kinds.
var kinds = map[string]string{
	"deploy":          "Deployment",
	"deployment":      "Deployment",
	"destinationrule": "DestinationRule",
	"virtualservice":  "VirtualService",
	"httproute":       "HTTPRoute",
	// stage 10: kubectl annotate authorizationpolicy NAME istio.io/dry-run- (enforce a dry run)
	"authorizationpolicy": "AuthorizationPolicy",
}

// Kubectl applies one `kubectl` command of a lab page to the state, as the API server would
// for the objects' names and contents: apply -f / -k, delete -f / kind name, set env, scale,
// annotate.
// Anything else is an error: the scenario must not quietly skip a command it cannot follow.
func (s *State) Kubectl(command string) error {
	args := strings.Fields(command)
	if len(args) < 2 || args[0] != "kubectl" {
		return fmt.Errorf("not a kubectl command: %q", command)
	}
	var files, rest []string
	kustomization := ""
	for i := 2; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-n" && i+1 < len(args):
			if args[i+1] != Namespace {
				return fmt.Errorf("%q: namespace %q", command, args[i+1])
			}
			i++
		case a == "-f" && i+1 < len(args):
			files = append(files, args[i+1])
			i++
		case a == "-k" && i+1 < len(args):
			kustomization = args[i+1]
			i++
		default:
			rest = append(rest, a)
		}
	}
	switch args[1] {
	case "apply":
		if kustomization != "" {
			docs, err := Kustomize(s.Root, kustomization)
			if err != nil {
				return err
			}
			for _, d := range docs {
				s.put(Object{Doc: d, Source: kustomization})
			}
		}
		for _, f := range files {
			docs, err := ReadDocs(s.Root, f)
			if err != nil {
				return err
			}
			for _, d := range docs {
				s.put(Object{Doc: d, Source: f})
			}
		}
		return nil
	case "delete":
		// --ignore-not-found: what is not there is no error (kubectl's flag).
		ignore := slices.Contains(rest, "--ignore-not-found")
		rest = slices.DeleteFunc(rest, func(a string) bool { return a == "--ignore-not-found" })
		remove := func(kind, name string) error {
			if _, ok := s.Get(kind, name); !ok && ignore {
				return nil
			}
			return s.remove(kind, name)
		}
		for _, f := range files {
			docs, err := ReadDocs(s.Root, f)
			if err != nil {
				return err
			}
			for _, d := range docs {
				o := Object{Doc: d}
				if err := remove(o.Kind(), o.Name()); err != nil {
					return fmt.Errorf("%q: %w", command, err)
				}
			}
		}
		if len(files) > 0 {
			return nil
		}
		// kind name, or one kind/name or more.
		objects := [][]string{rest}
		if len(rest) > 1 && strings.Contains(rest[0], "/") {
			objects = nil
			for _, a := range rest {
				objects = append(objects, []string{a})
			}
		}
		for _, object := range objects {
			kind, name, err := kindName(object)
			if err != nil {
				return fmt.Errorf("%q: %w", command, err)
			}
			if err := remove(kind, name); err != nil {
				return fmt.Errorf("%q: %w", command, err)
			}
		}
		return nil
	case "set":
		if len(rest) < 2 || rest[0] != "env" {
			return fmt.Errorf("%q: only set env", command)
		}
		kind, name, err := kindName(rest[1:2])
		if err != nil || kind != "Deployment" {
			return fmt.Errorf("%q: set env on a Deployment", command)
		}
		return s.setEnv(name, rest[2:])
	case "scale":
		kind, name, err := kindName(rest[:1])
		if err != nil || kind != "Deployment" || len(rest) != 2 || !strings.HasPrefix(rest[1], "--replicas=") {
			return fmt.Errorf("%q: scale deploy/NAME --replicas=N", command)
		}
		n, err := strconv.Atoi(strings.TrimPrefix(rest[1], "--replicas="))
		if err != nil {
			return fmt.Errorf("%q: %w", command, err)
		}
		o, ok := s.Get("Deployment", name)
		if !ok {
			return fmt.Errorf("%q: no Deployment %s", command, name)
		}
		o.Doc["spec"].(map[string]any)["replicas"] = n
		return nil
	case "annotate":
		// annotate kind name (or kind/name) key=value or key- ...; --overwrite is kubectl's
		// consent to replace a value, which the state gives anyway.
		rest = slices.DeleteFunc(rest, func(a string) bool { return a == "--overwrite" })
		n := 1
		if len(rest) > 0 && !strings.Contains(rest[0], "/") {
			n = 2
		}
		if len(rest) <= n {
			return fmt.Errorf("%q: annotate KIND NAME KEY=VALUE|KEY-", command)
		}
		kind, name, err := kindName(rest[:n])
		if err != nil {
			return fmt.Errorf("%q: %w", command, err)
		}
		o, ok := s.Get(kind, name)
		if !ok {
			return fmt.Errorf("%q: no %s %s", command, kind, name)
		}
		return annotate(o.Doc, rest[n:])
	}
	return fmt.Errorf("kubectl %s: not followed by the scenario", args[1])
}

// annotate sets (key=value) or removes (key-) annotations of an object, as kubectl annotate.
func annotate(doc map[string]any, changes []string) error {
	meta, _ := doc["metadata"].(map[string]any)
	annotations, _ := meta["annotations"].(map[string]any)
	if annotations == nil {
		annotations = map[string]any{}
	}
	for _, change := range changes {
		if key, value, set := strings.Cut(change, "="); set {
			annotations[key] = value
		} else if key, ok := strings.CutSuffix(change, "-"); ok {
			delete(annotations, key)
		} else {
			return fmt.Errorf("annotate: %q is neither KEY=VALUE nor KEY-", change)
		}
	}
	meta["annotations"] = annotations
	return nil
}

func kindName(args []string) (string, string, error) {
	switch {
	case len(args) == 1 && strings.Contains(args[0], "/"):
		k, n, _ := strings.Cut(args[0], "/")
		if kind, ok := kinds[k]; ok {
			return kind, n, nil
		}
	case len(args) == 2:
		if kind, ok := kinds[args[0]]; ok {
			return kind, args[1], nil
		}
	}
	return "", "", fmt.Errorf("unknown object %v", args)
}

// setEnv sets (NAME=value) or removes (NAME-) variables on every container of a Deployment.
func (s *State) setEnv(deployment string, changes []string) error {
	o, ok := s.Get("Deployment", deployment)
	if !ok {
		return fmt.Errorf("no Deployment %s", deployment)
	}
	containers, _ := lookup(o.Doc, "spec", "template", "spec", "containers").([]any)
	for _, c := range containers {
		container := c.(map[string]any)
		env, _ := container["env"].([]any)
		for _, change := range changes {
			name, value, set := strings.Cut(change, "=")
			if !set {
				name = strings.TrimSuffix(change, "-")
			}
			kept := env[:0:0]
			for _, e := range env {
				if e.(map[string]any)["name"] != name {
					kept = append(kept, e)
				}
			}
			if set {
				kept = append(kept, map[string]any{"name": name, "value": value})
			}
			env = kept
		}
		container["env"] = env
	}
	return nil
}
