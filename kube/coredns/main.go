// CoreDNS for the real cluster's DNS (mesh/realcluster): the cluster's Services and Pods by
// name, and nothing else. The plugin list is trimmed to what its Corefile uses, so the build
// takes a fraction of the full one; no plugin forwards a query out of the machine.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The plugins in CoreDNS's own order (core/dnsserver/zdirectives.go), less the others.
var directives = []string{"ready", "health", "errors", "cache", "kubernetes", "loop"}

func init() { dnsserver.Directives = directives }

func main() { coremain.Run() }
