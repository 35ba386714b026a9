// Package all registers every datastore driver: importing it for its side
// effects is how a program gets them all. A new engine adds its line here
// and nothing else outside its own package.
package all

import (
	_ "github.com/leakhound/leakhound/internal/datastore/clickhouse"    // registers the driver
	_ "github.com/leakhound/leakhound/internal/datastore/elasticsearch" // registers the driver
	_ "github.com/leakhound/leakhound/internal/datastore/etcd"          // registers the driver
	_ "github.com/leakhound/leakhound/internal/datastore/memcached"     // registers the driver
	_ "github.com/leakhound/leakhound/internal/datastore/mongodb"       // registers the driver
	_ "github.com/leakhound/leakhound/internal/datastore/mysql"         // registers the driver
	_ "github.com/leakhound/leakhound/internal/datastore/postgres"      // registers the driver
	_ "github.com/leakhound/leakhound/internal/datastore/redis"         // registers the driver
)
