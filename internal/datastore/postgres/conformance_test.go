package postgres

import (
	"testing"

	"github.com/leakhound/leakhound/internal/datastore/datastoretest"
	"github.com/leakhound/leakhound/internal/lab"
)

// TestConformance runs the drivers' conformance suite on the lab's
// PostgreSQL servers.
func TestConformance(t *testing.T) {
	var hostile []string
	for _, name := range []string{lab.InjectionTable, lab.DoubleQuoteTable, lab.BacktickTable, lab.EscapeTable, lab.PGLongTable} {
		hostile = append(hostile, lab.SQLDatabase+".public."+name)
	}
	datastoretest.Run(t, datastoretest.Lab{
		Driver:     Driver{},
		Open:       datastoretest.Endpoint(lab.PGOpen.Host, lab.PGOpen.Port),
		Locked:     datastoretest.EndpointPtr(lab.PGLocked.Host, lab.PGLocked.Port),
		Restricted: datastoretest.EndpointPtr(lab.PGRestricted.Host, lab.PGRestricted.Port),
		Snapshot:   lab.PGOpen.Snapshot,
		Hostile:    hostile,
	})
}
