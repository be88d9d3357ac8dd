package mesh

import (
	"testing"

	"istio.io/istio/pilot/test/xds"
)

func TestCompiles(t *testing.T) { _ = xds.FakeOptions{} }
