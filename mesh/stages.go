package mesh

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Registry is where the lab's images are pushed and pulled from: <Registry>/<service>:<tag>.
const Registry = "localhost:32000"

// Stage is one row of labs/stages.tsv: an image of the lab and what it must show.
type Stage struct {
	Service, Tag, Patch, Version, Shows string
}

// Stages are the rows of labs/stages.tsv, in stage order.
type Stages []Stage

// ReadStages reads the stage list through its one reader, `scripts/stages list` (labs/stages.tsv,
// checked): the images app_test.go serves, and the tags and patches the lab pages may name
// (mesh/pages).
func ReadStages(root string) (Stages, error) {
	cmd := exec.Command("python3", filepath.Join(root, "scripts", "stages"), "list")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("scripts/stages list: %w", err)
	}
	var stages Stages
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		cols := strings.Split(line, "\t")
		if len(cols) != 5 {
			return nil, fmt.Errorf("scripts/stages list: %q: want 5 columns", line)
		}
		stages = append(stages, Stage{cols[0], cols[1], cols[2], cols[3], cols[4]})
	}
	return stages, nil
}

// Tags lists the tags of a service's image, in stage order (none: not one of the lab's images).
func (s Stages) Tags(service string) []string {
	var out []string
	for _, st := range s {
		if st.Service == service {
			out = append(out, st.Tag)
		}
	}
	return out
}

// Patches lists the patches (labs/<patch>) in stage order: each applies on top of those before it.
func (s Stages) Patches() []string {
	var out []string
	for _, st := range s {
		if st.Patch != "-" {
			out = append(out, st.Patch)
		}
	}
	return out
}

// StageOfImage finds the stage row of an image reference such as localhost:32000/beth:0.3.
func StageOfImage(stages Stages, image string) (Stage, bool) {
	name := image[strings.LastIndex(image, "/")+1:]
	for _, s := range stages {
		if s.Service+":"+s.Tag == name {
			return s, true
		}
	}
	return Stage{}, false
}
