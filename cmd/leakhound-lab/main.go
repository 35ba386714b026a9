// Command leakhound-lab brings the project's lab of real, seeded datastores
// up on loopback addresses, and down again.
//
//	leakhound-lab up|down|status [ENGINE]...
//
// Naming engines limits the command to their servers (clickhouse includes
// the lab's nginx and DNS server); with none, it acts on all of them.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/leakhound/leakhound/internal/lab"
	"github.com/leakhound/leakhound/internal/lab/esreplay"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintf(os.Stderr, "usage: leakhound-lab up|down|status [%s]...\n", strings.Join(lab.Engines(), "|"))
		os.Exit(2)
	}
	if os.Args[1] == "esreplay" {
		// The lab's Elasticsearch/OpenSearch/Kibana stand-in, started by
		// "up elasticsearch" as its own process.
		if err := esreplay.Main(os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "esreplay: %v\n", err)
			os.Exit(1)
		}
		return
	}
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "lab: "+format+"\n", args...) }
	engines := os.Args[2:]
	var err error
	switch os.Args[1] {
	case "up":
		start := time.Now()
		if err = lab.Up(context.Background(), logf, engines...); err == nil {
			logf("up in %s", time.Since(start).Round(time.Millisecond))
		}
	case "down":
		err = lab.Down(logf, engines...)
	case "status":
		err = lab.Status(context.Background(), os.Stdout, engines...)
	default:
		err = fmt.Errorf("unknown command %q (up, down or status)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "lab: %v\n", err)
		os.Exit(1)
	}
}
