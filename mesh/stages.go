package mesh

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Registry is where the lab's images are pushed and pulled from: <Registry>/<service>:<tag>.
const Registry = "localhost:32000"

// Stage is one row of labs/stages.tsv: an image of the lab and what it must show.
type Stage struct {
	Service, Tag, Patch, Version, Shows string
}

// ReadStages reads labs/stages.tsv, the one list of the lab's images.
func ReadStages(root string) (map[string]Stage, error) {
	f, err := os.Open(filepath.Join(root, "labs", "stages.tsv"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	stages := map[string]Stage{}
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cols := strings.Fields(line)
		if len(cols) != 5 {
			return nil, fmt.Errorf("labs/stages.tsv: %q: want 5 columns", line)
		}
		s := Stage{cols[0], cols[1], cols[2], cols[3], cols[4]}
		stages[s.Service+":"+s.Tag] = s
	}
	return stages, scanner.Err()
}

// StageOfImage finds the stage row of an image reference such as localhost:32000/beth:0.3.
func StageOfImage(stages map[string]Stage, image string) (Stage, bool) {
	name := image[strings.LastIndex(image, "/")+1:]
	s, ok := stages[name]
	return s, ok
}
