package elasticsearch

import (
	"testing"

	"github.com/leakhound/leakhound/internal/datastore/datastoretest"
	"github.com/leakhound/leakhound/internal/lab"
)

// TestConformance runs the drivers' conformance suite on the lab's
// Elasticsearch replay servers: the open 7.x cluster (a million-document
// chat index and the hostile names) and the locked 8.x one.
func TestConformance(t *testing.T) {
	var hostile []string
	for _, name := range []string{lab.ESHostileIndex, lab.ESLongIndex} {
		hostile = append(hostile, "lab-"+lab.ESOpen.Name+"."+name)
	}
	datastoretest.Run(t, datastoretest.Lab{
		Driver:   Driver{},
		Open:     datastoretest.Endpoint(lab.ESOpen.Host, lab.ESOpen.Port),
		Locked:   datastoretest.EndpointPtr(lab.ESLocked.Host, lab.ESLocked.Port),
		Snapshot: lab.ESOpen.Snapshot,
		Hostile:  hostile,
		Timeout:  30 * datastoretest.DefaultTimeout / 10,
	})
}

// TestConformanceOpenSearch runs the suite on the OpenSearch 2.x replay,
// the one holding a ransom note.
func TestConformanceOpenSearch(t *testing.T) {
	datastoretest.Run(t, datastoretest.Lab{
		Driver:   Driver{},
		Open:     datastoretest.Endpoint(lab.OpenSearchOpen.Host, lab.OpenSearchOpen.Port),
		Snapshot: lab.OpenSearchOpen.Snapshot,
	})
}
