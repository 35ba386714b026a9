package elasticsearch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Parsers of what a server sends: each takes a body already cut at its
// cap, and each holds at most what its caps allow, whatever the body.

// rootInfo is GET / (Elasticsearch's and OpenSearch's root info).
type rootInfo struct {
	Name        string `json:"name"`
	ClusterName string `json:"cluster_name"`
	ClusterUUID string `json:"cluster_uuid"`
	Version     struct {
		Number       string `json:"number"`
		Distribution string `json:"distribution"`
		BuildFlavor  string `json:"build_flavor"`
		Lucene       string `json:"lucene_version"`
	} `json:"version"`
	Tagline string `json:"tagline"`
}

// parseRoot reads a root answer; it fails on anything that is not one
// (no version number, or neither a tagline nor a cluster name).
func parseRoot(b []byte) (rootInfo, error) {
	var r rootInfo
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("root answer: %w", err)
	}
	if r.Version.Number == "" || len(r.Version.Number) > 64 || (r.Tagline == "" && r.ClusterName == "") {
		return r, errors.New("root answer: no version number and tagline or cluster name")
	}
	r.Name, r.ClusterName, r.ClusterUUID = clip(r.Name, 256), clip(r.ClusterName, 256), clip(r.ClusterUUID, 128)
	r.Version.Distribution = clip(r.Version.Distribution, 64)
	return r, nil
}

// opensearch reports whether the root names OpenSearch.
func (r rootInfo) opensearch() bool {
	return strings.EqualFold(r.Version.Distribution, "opensearch") || strings.Contains(r.Tagline, "OpenSearch")
}

// product is what answered: "Elasticsearch" or "OpenSearch".
func (r rootInfo) product() string {
	if r.opensearch() {
		return "OpenSearch"
	}
	return "Elasticsearch"
}

// catRow is one line of _cat/indices?format=json&bytes=b: every value a
// string, as the cat APIs write them.
type catRow struct {
	Index     string `json:"index"`
	Health    string `json:"health"`
	Status    string `json:"status"`
	DocsCount string `json:"docs.count"`
	StoreSize string `json:"store.size"`
}

// parseCat reads the cat indices answer, at most max rows.
func parseCat(b []byte, max int) (rows []catRow, more bool, err error) {
	d := json.NewDecoder(bytes.NewReader(b))
	t, err := d.Token()
	if err != nil {
		return nil, false, fmt.Errorf("_cat/indices: %w", err)
	}
	if t != json.Delim('[') {
		return nil, false, fmt.Errorf("_cat/indices: an answer that is not a list")
	}
	for d.More() {
		if len(rows) == max {
			return rows, true, nil
		}
		var r catRow
		if err := d.Decode(&r); err != nil {
			return rows, false, fmt.Errorf("_cat/indices: row %d: %w", len(rows), err)
		}
		rows = append(rows, r)
	}
	return rows, false, nil
}

// fieldInfo is one field of a mapping: its path in _source, its type, and
// the path of its keyword form (the field itself, a keyword sub-field, or
// "" when none).
type fieldInfo struct {
	Path    string
	Type    string
	Keyword string
}

// textual reports whether Sample reads the field: text and the keyword
// family hold what people typed.
func (f fieldInfo) textual() bool {
	switch f.Type {
	case "text", "keyword", "match_only_text", "wildcard", "constant_keyword", "search_as_you_type", "annotated_text":
		return true
	}
	return false
}

func (f fieldInfo) analyzed() bool {
	switch f.Type {
	case "text", "match_only_text", "search_as_you_type", "annotated_text":
		return true
	}
	return false
}

// Bounds on a mapping: Elasticsearch's own defaults are 1000 fields an
// index (index.mapping.total_fields.limit) and depth 20.
const (
	maxFieldsPerIndex = 2000
	maxMappingDepth   = 24
)

// parseMapping reads GET _mapping: per index, its fields in path order.
// Both the 7.x+ shape (mappings.properties) and the 6.x one (mappings.
// TYPE.properties) are read.
func parseMapping(b []byte) (map[string][]fieldInfo, error) {
	var raw map[string]struct {
		Mappings json.RawMessage `json:"mappings"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("_mapping: %w", err)
	}
	out := map[string][]fieldInfo{}
	for idx, m := range raw {
		var props map[string]json.RawMessage
		var top struct {
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if err := json.Unmarshal(m.Mappings, &top); err == nil && top.Properties != nil {
			props = top.Properties
		} else {
			var typed map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			}
			if json.Unmarshal(m.Mappings, &typed) == nil {
				for _, t := range typed {
					if t.Properties != nil {
						props = t.Properties
						break
					}
				}
			}
		}
		var fields []fieldInfo
		walkProps(props, "", 0, &fields)
		sort.Slice(fields, func(i, j int) bool { return fields[i].Path < fields[j].Path })
		out[idx] = fields
	}
	return out, nil
}

func walkProps(props map[string]json.RawMessage, prefix string, depth int, out *[]fieldInfo) {
	if depth > maxMappingDepth {
		return
	}
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if len(*out) >= maxFieldsPerIndex {
			return
		}
		var def struct {
			Type       string                     `json:"type"`
			Properties map[string]json.RawMessage `json:"properties"`
			Fields     map[string]struct {
				Type string `json:"type"`
			} `json:"fields"`
		}
		if json.Unmarshal(props[n], &def) != nil {
			continue
		}
		path := prefix + n
		if def.Properties != nil && (def.Type == "" || def.Type == "object" || def.Type == "nested") {
			walkProps(def.Properties, path+".", depth+1, out)
			continue
		}
		f := fieldInfo{Path: path, Type: clip(def.Type, 40)}
		switch def.Type {
		case "keyword", "wildcard", "constant_keyword":
			f.Keyword = path
		default:
			subs := make([]string, 0, len(def.Fields))
			for s := range def.Fields {
				subs = append(subs, s)
			}
			sort.Strings(subs)
			for _, s := range subs {
				if def.Fields[s].Type == "keyword" || def.Fields[s].Type == "wildcard" {
					f.Keyword = path + "." + s
					break
				}
			}
		}
		*out = append(*out, f)
	}
}

// searchHits is what Sample keeps of a search answer.
type searchHits struct {
	TimedOut bool
	IDs      []string
	Rows     [][]string
}

// parseHits reads a search answer's hits: each hit's _source, flattened
// to the paths of cols (arrays joined by newlines, numbers and booleans as
// written, objects ignored), each value cut at valueCap bytes.
func parseHits(b []byte, cols []string, valueCap int) (searchHits, error) {
	var r struct {
		TimedOut bool `json:"timed_out"`
		Hits     struct {
			Hits []struct {
				Index  string          `json:"_index"`
				ID     string          `json:"_id"`
				Source json.RawMessage `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return searchHits{}, fmt.Errorf("search answer: %w", err)
	}
	out := searchHits{TimedOut: r.TimedOut}
	for _, h := range r.Hits.Hits {
		var src map[string]any
		d := json.NewDecoder(bytes.NewReader(h.Source))
		d.UseNumber()
		if d.Decode(&src) != nil {
			continue
		}
		row := make([]string, len(cols))
		for i, c := range cols {
			row[i] = capValue(valueAt(src, c), valueCap)
		}
		out.IDs = append(out.IDs, clip(h.Index, 256)+"\x00"+clip(h.ID, 512))
		out.Rows = append(out.Rows, row)
	}
	return out, nil
}

// valueAt finds path in a _source: as nested objects, or as a key holding
// dots itself (both are how Elasticsearch accepts "a.b").
func valueAt(src map[string]any, path string) string {
	if v, ok := src[path]; ok {
		return text(v)
	}
	for i := 0; i < len(path); i++ {
		if path[i] != '.' {
			continue
		}
		if sub, ok := src[path[:i]].(map[string]any); ok {
			if v := valueAt(sub, path[i+1:]); v != "" {
				return v
			}
		}
		if arr, ok := src[path[:i]].([]any); ok {
			var parts []string
			for _, a := range arr {
				if sub, ok := a.(map[string]any); ok {
					if v := valueAt(sub, path[i+1:]); v != "" {
						parts = append(parts, v)
					}
				}
			}
			return strings.Join(parts, "\n")
		}
	}
	return ""
}

func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	case []any:
		var parts []string
		for _, a := range x {
			if s := text(a); s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, "\n")
	}
	return ""
}

// capValue cuts s at n bytes, on a UTF-8 boundary.
func capValue(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// parseBuckets reads the doc counts of a keyed filters aggregation at
// path (aggregation names, outermost first).
func parseBuckets(b []byte, path ...string) (counts map[string]int64, timedOut bool, err error) {
	var r struct {
		TimedOut     bool                       `json:"timed_out"`
		Aggregations map[string]json.RawMessage `json:"aggregations"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, false, fmt.Errorf("aggregation answer: %w", err)
	}
	cur := r.Aggregations
	for i, name := range path {
		raw, ok := cur[name]
		if !ok {
			return nil, r.TimedOut, fmt.Errorf("aggregation answer: no %q", name)
		}
		if i == len(path)-1 {
			var f struct {
				Buckets map[string]struct {
					DocCount int64 `json:"doc_count"`
				} `json:"buckets"`
			}
			if err := json.Unmarshal(raw, &f); err != nil {
				return nil, r.TimedOut, fmt.Errorf("aggregation answer: %q: %w", name, err)
			}
			counts = map[string]int64{}
			for k, v := range f.Buckets {
				counts[k] = v.DocCount
			}
			return counts, r.TimedOut, nil
		}
		cur = nil
		if err := json.Unmarshal(raw, &cur); err != nil {
			return nil, r.TimedOut, fmt.Errorf("aggregation answer: %q: %w", name, err)
		}
	}
	return nil, r.TimedOut, errors.New("aggregation answer: no path")
}

// authInfo is who the server says the anonymous client is: Elasticsearch's
// _security/_authenticate or OpenSearch's _plugins/_security/authinfo.
type authInfo struct {
	Username string   `json:"username"`
	UserName string   `json:"user_name"` // OpenSearch
	Roles    []string `json:"roles"`
	Type     string   `json:"authentication_type"`
}

func parseAuth(b []byte) (authInfo, error) {
	var a authInfo
	if err := json.Unmarshal(b, &a); err != nil {
		return a, fmt.Errorf("authenticate answer: %w", err)
	}
	if a.Username == "" {
		a.Username = a.UserName
	}
	if a.Username == "" {
		return a, errors.New("authenticate answer: no user")
	}
	a.Username = clip(a.Username, 128)
	if len(a.Roles) > 64 {
		a.Roles = a.Roles[:64]
	}
	for i := range a.Roles {
		a.Roles[i] = clip(a.Roles[i], 128)
	}
	return a, nil
}

// errorReason is the reason an error answer gives: error.reason, or the
// bare string 7.x servers send for a path without a handler.
func errorReason(b []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || len(e.Error) == 0 {
		return clip(strings.TrimSpace(string(b)), 200)
	}
	var s string
	if json.Unmarshal(e.Error, &s) == nil {
		return clip(s, 300)
	}
	var o struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	}
	json.Unmarshal(e.Error, &o)
	if o.Type != "" {
		return clip(o.Type+": "+o.Reason, 300)
	}
	return clip(o.Reason, 300)
}
