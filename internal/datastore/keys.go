package datastore

import "strings"

// KeyPrefix is the group a key-value store's key belongs to, as a report
// counts keys: its first path segments. A key that starts with "/" (etcd,
// Kubernetes) is cut after its fourth "/", so that /registry/secrets/prod/db
// falls in /registry/secrets/prod/ and /registry/namespaces/prod in
// /registry/namespaces/; any other key after its second ":" or "/", so that
// cache:prompt:42 falls in cache:prompt: and session:9f2 in session:. A key
// with no separator has no group: "".
func KeyPrefix(key string) string {
	if strings.HasPrefix(key, "/") {
		end, n := 0, 0
		for i := 0; i < len(key) && n < 4; i++ {
			if key[i] == '/' {
				end, n = i+1, n+1
			}
		}
		return key[:end]
	}
	end, n := 0, 0
	for i := 0; i < len(key) && n < 2; i++ {
		if key[i] == ':' || key[i] == '/' {
			end, n = i+1, n+1
		}
	}
	return key[:end]
}
