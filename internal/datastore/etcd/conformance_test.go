package etcd

import (
	"testing"

	"github.com/leakhound/leakhound/internal/datastore/datastoretest"
	"github.com/leakhound/leakhound/internal/lab"
)

// TestConformance runs the drivers' conformance suite on the lab's etcd
// servers: auth off, and auth on (root with a password).
func TestConformance(t *testing.T) {
	var hostile []string
	for _, p := range []string{lab.EtcdInjectionPrefix, lab.EtcdEscapePrefix, lab.EtcdLongPrefix} {
		hostile = append(hostile, Database+"."+p)
	}
	datastoretest.Run(t, datastoretest.Lab{
		Driver:   Driver{},
		Open:     datastoretest.Endpoint(lab.EtcdOpen.Host, lab.EtcdOpen.Port),
		Locked:   datastoretest.EndpointPtr(lab.EtcdLocked.Host, lab.EtcdLocked.Port),
		Snapshot: lab.EtcdOpen.Snapshot,
		Hostile:  hostile,
	})
}
