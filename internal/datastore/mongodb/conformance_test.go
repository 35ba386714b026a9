package mongodb

import (
	"testing"

	"github.com/leakhound/leakhound/internal/datastore/datastoretest"
	"github.com/leakhound/leakhound/internal/lab"
)

// TestConformance runs the drivers' conformance suite on the lab's
// FerretDB servers (MongoDB's wire protocol; Debian ships no mongod).
func TestConformance(t *testing.T) {
	var hostile []string
	for _, name := range []string{lab.InjectionTable, lab.BacktickTable, lab.EscapeTable, lab.MongoLongCollection} {
		hostile = append(hostile, lab.SQLDatabase+"."+name)
	}
	datastoretest.Run(t, datastoretest.Lab{
		Driver:   Driver{},
		Open:     datastoretest.Endpoint(lab.MongoOpen.Host, lab.MongoOpen.Port),
		Locked:   datastoretest.EndpointPtr(lab.MongoLocked.Host, lab.MongoLocked.Port),
		Snapshot: lab.MongoOpen.Snapshot,
		Hostile:  hostile,
	})
}
