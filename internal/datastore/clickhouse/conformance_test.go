package clickhouse

import (
	"testing"
	"time"

	"github.com/leakhound/leakhound/internal/datastore/datastoretest"
	"github.com/leakhound/leakhound/internal/lab"
)

// TestConformance runs the drivers' conformance suite on each of the open
// lab server's interfaces.
func TestConformance(t *testing.T) {
	for _, c := range []struct {
		name string
		port func(lab.Server) int
	}{
		{"native", func(s lab.Server) int { return s.NativePort }},
		{"http", func(s lab.Server) int { return s.HTTPPort }},
	} {
		t.Run(c.name, func(t *testing.T) {
			datastoretest.Run(t, datastoretest.Lab{
				Driver:     Driver{},
				Open:       datastoretest.Endpoint(lab.Open.Host, c.port(lab.Open)),
				Locked:     datastoretest.EndpointPtr(lab.Locked.Host, c.port(lab.Locked)),
				Restricted: datastoretest.EndpointPtr(lab.Restricted.Host, c.port(lab.Restricted)),
				Snapshot:   lab.Open.Snapshot,
				Hostile:    []string{"default." + lab.InjectionTable, "default." + lab.BacktickTable, "default." + lab.EscapeTable},
				// A search of the lab's 1,000,000-row log_stream for the
				// suite's commonest keywords scans every row (about 10 s
				// on a busy 2-core machine): each query gets 30 s.
				Timeout: 30 * time.Second,
			})
		})
	}
}
