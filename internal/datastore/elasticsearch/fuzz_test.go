package elasticsearch

import (
	"testing"
)

func FuzzParseRoot(f *testing.F) {
	f.Add([]byte(rootJSON))
	f.Add([]byte(`{"version":{"number":"2.17.1","distribution":"opensearch"},"tagline":"The OpenSearch Project: https://opensearch.org/"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRoot(b)
		if err == nil && (r.Version.Number == "" || len(r.Version.Number) > 64 || len(r.ClusterName) > 260) {
			t.Errorf("parseRoot(%q) = %+v: a root without a bounded version", b, r)
		}
	})
}

func FuzzParseCat(f *testing.F) {
	f.Add([]byte(`[{"index":"a","docs.count":"1","store.size":"10","status":"open"}]`), 2)
	f.Add([]byte(`[{"index":"a"},{"index":"b"},{"index":"c"}]`), 1)
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		max = max%100 + 1
		if max <= 0 {
			max += 100
		}
		rows, _, _ := parseCat(b, max)
		if len(rows) > max {
			t.Errorf("parseCat kept %d rows, want at most %d", len(rows), max)
		}
	})
}

func FuzzParseMapping(f *testing.F) {
	f.Add([]byte(`{"i":{"mappings":{"properties":{"a":{"type":"text","fields":{"keyword":{"type":"keyword"}}},"o":{"properties":{"b":{"type":"keyword"}}}}}}}`))
	f.Add([]byte(`{"i":{"mappings":{"_doc":{"properties":{"a":{"type":"text"}}}}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, _ := parseMapping(b)
		for _, fs := range m {
			if len(fs) > maxFieldsPerIndex {
				t.Errorf("parseMapping kept %d fields of an index, want at most %d", len(fs), maxFieldsPerIndex)
			}
		}
	})
}

func FuzzParseHits(f *testing.F) {
	f.Add([]byte(`{"hits":{"hits":[{"_index":"i","_id":"1","_source":{"a":"x","o":{"b":["y",1,true]}}}]}}`))
	f.Add([]byte(`{"timed_out":true,"hits":{"hits":[{"_source":{"a.b":"dotted"}}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHits(b, []string{"a", "o.b", "a.b"}, 16)
		if err != nil {
			return
		}
		if len(h.IDs) != len(h.Rows) {
			t.Fatalf("parseHits: %d ids for %d rows", len(h.IDs), len(h.Rows))
		}
		for _, r := range h.Rows {
			if len(r) != 3 {
				t.Fatalf("parseHits: a row of %d cells for 3 columns", len(r))
			}
			for _, v := range r {
				if len(v) > 16 {
					t.Errorf("parseHits kept a value of %d bytes, want at most 16", len(v))
				}
			}
		}
	})
}

func FuzzParseBuckets(f *testing.F) {
	f.Add([]byte(`{"aggregations":{"s":{"doc_count":3,"k":{"buckets":{"0":{"doc_count":2}}}}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseBuckets(b, "s", "k")
		parseBuckets(b, "k")
	})
}

func FuzzParseAuth(f *testing.F) {
	f.Add([]byte(`{"username":"_anonymous","roles":["superuser"],"authentication_type":"anonymous"}`))
	f.Add([]byte(`{"user_name":"admin","roles":["all_access"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := parseAuth(b)
		if err == nil && (a.Username == "" || len(a.Roles) > 64) {
			t.Errorf("parseAuth(%q) = %+v", b, a)
		}
		errorReason(b)
	})
}
