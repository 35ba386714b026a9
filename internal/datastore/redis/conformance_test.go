package redis

import (
	"strconv"
	"testing"

	"github.com/leakhound/leakhound/internal/datastore"
	"github.com/leakhound/leakhound/internal/datastore/datastoretest"
	"github.com/leakhound/leakhound/internal/lab"
)

// TestConformance runs the drivers' conformance suite on the lab's Redis
// servers: open, locked (requirepass) and restricted (protected mode).
func TestConformance(t *testing.T) {
	var hostile []string
	for _, k := range lab.RedisHostileKeys {
		hostile = append(hostile, datastore.Table{Database: "db" + strconv.Itoa(lab.RedisHostileDB), Name: pattern(k)}.QualifiedName())
	}
	datastoretest.Run(t, datastoretest.Lab{
		Driver:     Driver{},
		Open:       datastoretest.Endpoint(lab.RedisOpen.Host, lab.RedisOpen.Port),
		Locked:     datastoretest.EndpointPtr(lab.RedisLocked.Host, lab.RedisLocked.Port),
		Restricted: datastoretest.EndpointPtr(lab.RedisRestricted.Host, lab.RedisRestricted.Port),
		Snapshot:   lab.RedisOpen.Snapshot,
		Hostile:    hostile,
	})
}
