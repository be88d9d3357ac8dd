// pause is every pod's sandbox process, as Kubernetes' own pause image: it holds the pod's
// namespaces, reaps the zombies of its pid namespace, and ends on SIGINT or SIGTERM. The real
// image cannot be pulled here; this one is built (static) into an image of its own.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range signals {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
