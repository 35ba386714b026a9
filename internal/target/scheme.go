package target

import (
	"fmt"
	"strings"
	"sync"
)

// schemes maps a URL scheme to the port it means when a URL names none.
// http and https are no datastore's: they mean the URL standard's ports.
// Every other scheme is a driver's, registered with it (datastore.Register).
var schemes = struct {
	sync.RWMutex
	ports map[string]int
}{ports: map[string]int{"http": 80, "https": 443}}

// RegisterScheme makes a URL scheme mean port. It panics when the scheme is
// taken, or the port is not one: two drivers claiming one scheme is a
// programming error.
func RegisterScheme(name string, port int) {
	name = strings.ToLower(name)
	if port < 1 || port > 65535 {
		panic(fmt.Sprintf("target: scheme %q registered with port %d", name, port))
	}
	schemes.Lock()
	defer schemes.Unlock()
	if _, dup := schemes.ports[name]; dup {
		panic(fmt.Sprintf("target: RegisterScheme called twice for scheme %q", name))
	}
	schemes.ports[name] = port
}

// schemePort returns the port a URL scheme means, if it is known.
func schemePort(name string) (int, bool) {
	schemes.RLock()
	defer schemes.RUnlock()
	p, ok := schemes.ports[strings.ToLower(name)]
	return p, ok
}
