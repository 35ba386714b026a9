package datastore

import (
	"context"
	"time"
)

// Look takes the first look at an open port.
//
// TEMPORARY (issue 9, core branch): the first-look helper's look.go
// replaces this stub at merge. A zero FirstLook means no look was taken:
// every driver then probes fully.
func Look(ctx context.Context, ep Endpoint, timeout time.Duration) FirstLook {
	return FirstLook{}
}
