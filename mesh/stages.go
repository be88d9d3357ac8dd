package mesh

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

// shows is what the stage list's "shows" column may say (labs/stages.tsv's header).
var shows = []string{"slow", "fast", "errors", "ok", "-"}

// ReadStages reads labs/stages.tsv, the one list of the lab's images: the images app_test.go
// serves, and the tags and patches the lab pages may name (mesh/pages).
func ReadStages(root string) (Stages, error) {
	f, err := os.Open(filepath.Join(root, "labs", "stages.tsv"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var stages Stages
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Fields(line)
		if len(cols) != 5 || !slices.Contains(shows, cols[4]) {
			return nil, fmt.Errorf("labs/stages.tsv: %q: want 5 columns (service tag patch version shows), shows one of %v", line, shows)
		}
		stages = append(stages, Stage{cols[0], cols[1], cols[2], cols[3], cols[4]})
	}
	return stages, scanner.Err()
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
