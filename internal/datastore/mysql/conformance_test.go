package mysql

import (
	"testing"

	"github.com/leakhound/leakhound/internal/datastore/datastoretest"
	"github.com/leakhound/leakhound/internal/lab"
)

// TestConformance runs the drivers' conformance suite on the lab's
// MariaDB servers.
func TestConformance(t *testing.T) {
	var hostile []string
	for _, name := range []string{lab.InjectionTable, lab.DoubleQuoteTable, lab.BacktickTable, lab.EscapeTable, lab.MariaDBLongTable} {
		hostile = append(hostile, lab.SQLDatabase+"."+name)
	}
	datastoretest.Run(t, datastoretest.Lab{
		Driver:     Driver{},
		Open:       datastoretest.Endpoint(lab.MariaDBOpen.Host, lab.MariaDBOpen.Port),
		Locked:     datastoretest.EndpointPtr(lab.MariaDBLocked.Host, lab.MariaDBLocked.Port),
		Restricted: datastoretest.EndpointPtr(lab.MariaDBRestricted.Host, lab.MariaDBRestricted.Port),
		Snapshot:   lab.MariaDBOpen.Snapshot,
		Hostile:    hostile,
	})
}
