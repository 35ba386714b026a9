package classify

// ContextKinds are the kinds counted rather than listed by default: nearly
// every log line holds a client address, and a finding per line says
// nothing a count does not (an access log full of addresses is not a leak
// of people). The CLI's --ip-findings lists them again.
var ContextKinds = []string{"ip_address"}

// Counted is what one file holds of the kinds an engine counts (CountOnly):
// values found, by kind.
type Counted struct {
	Path    string           `json:"path"`
	Context map[string]int64 `json:"context"`
}

// CountOnly returns a copy of e that counts the values of kinds instead of
// reporting each: Scan and ScanReader leave them out, Size counts them per
// table (datastore.Table.Context), and ScanReader hands sink, when not
// nil, each input's counts after its findings.
func (e *Engine) CountOnly(kinds []string, sink func(Counted)) *Engine {
	c := *e
	c.counted = map[string]bool{}
	for _, k := range kinds {
		c.counted[k] = true
	}
	c.countedSink = sink
	return &c
}

// Counts reports whether e counts values of kind instead of listing them.
func (e *Engine) Counts(kind string) bool { return e.counted[kind] }

// uncounted moves the detections of counted kinds out of found, calling count
// with each, and returns the rest.
func (e *Engine) uncounted(found []Detection, count func(Detection)) []Detection {
	if len(e.counted) == 0 {
		return found
	}
	kept := found[:0]
	for _, d := range found {
		if e.counted[d.Kind] {
			if count != nil {
				count(d)
			}
			continue
		}
		kept = append(kept, d)
	}
	return kept
}

func addCounts(to map[string]int64, from map[string]int64) map[string]int64 {
	if len(from) == 0 {
		return to
	}
	if to == nil {
		to = map[string]int64{}
	}
	for k, n := range from {
		to[k] += n
	}
	return to
}
