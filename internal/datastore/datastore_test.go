package datastore

import (
	"encoding/json"
	"math"
	"testing"
)

func TestPrivilegesJSON(t *testing.T) {
	p := Privileges{Readonly: Unknown, DDL: Unknown, FileRead: Yes, TableFunctions: No, ReadonlyLevel: -1}
	p.Unjudge("readonly", "the settings answer was empty")
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"readonly":null,"ddl":null,"file_read":true,"table_functions":false,"readonly_level":-1,"unjudged":{"readonly":"the settings answer was empty"}}`
	if string(b) != want {
		t.Errorf("json.Marshal(%+v) = %s, want %s", p, b, want)
	}
	var back Privileges
	if err := json.Unmarshal(b, &back); err != nil || back.Readonly != Unknown || back.FileRead != Yes || back.TableFunctions != No {
		t.Errorf("json.Unmarshal(%s) = %+v, %v, want it back", b, back, err)
	}
	if err := json.Unmarshal([]byte(`{"ddl":"yes"}`), &back); err == nil {
		t.Errorf(`json.Unmarshal({"ddl":"yes"}) = nil error, want one`)
	}
}

func TestAddCount(t *testing.T) {
	for _, tc := range []struct{ a, b, want int64 }{
		{1, 2, 3},
		{math.MaxInt64, math.MaxInt64, math.MaxInt64},
		{math.MaxInt64, 1, math.MaxInt64},
		{math.MinInt64, -1, math.MinInt64},
		{-1, 5, 4},
	} {
		if got := AddCount(tc.a, tc.b); got != tc.want {
			t.Errorf("AddCount(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
