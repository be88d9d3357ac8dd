// cluster starts the real cluster of the tests (mesh/realcluster) with Istio installed and
// staging prepared, prints how to reach it, and keeps it until interrupted, then leaves nothing
// behind: for looking at what a page does by hand. As root, from mesh/:
//
//	go run ./realcluster/cmd/cluster
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"alephbeth/mesh/realcluster"
)

func main() {
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	c, err := realcluster.New(root).Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
	if err := c.InstallIstio(); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		c.Stop()
		os.Exit(1)
	}
	fmt.Printf("ready: export KUBECONFIG=%s PATH=%s:$PATH\nCtrl-C stops it and cleans up.\n",
		filepath.Join(c.Data, "kubeconfig"), filepath.Join(root, ".local", "bin"))
	select {}
}
