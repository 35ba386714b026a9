package memcached

import (
	"testing"

	"github.com/leakhound/leakhound/internal/datastore/datastoretest"
	"github.com/leakhound/leakhound/internal/lab"
)

// TestConformance runs the drivers' conformance suite on the lab's
// memcached servers: the text protocol (no auth), and SASL only.
func TestConformance(t *testing.T) {
	datastoretest.Run(t, datastoretest.Lab{
		Driver:   Driver{},
		Open:     datastoretest.Endpoint(lab.MemcachedOpen.Host, lab.MemcachedOpen.Port),
		Locked:   datastoretest.EndpointPtr(lab.MemcachedSASL.Host, lab.MemcachedSASL.Port),
		Snapshot: lab.MemcachedOpen.Snapshot,
		Hostile:  []string{Database + "." + lab.MemcachedInjectionPattern, Database + "." + lab.MemcachedEscapePattern},
	})
}
