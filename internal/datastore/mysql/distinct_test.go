package mysql

import "testing"

// Rows by distinct value need REGEXP_SUBSTR and window functions: MariaDB
// 10.2 and MySQL 8.0 on; older servers keep the rows per keyword.
func TestGroupsByValue(t *testing.T) {
	for _, tc := range []struct {
		version string
		mariadb bool
		want    bool
	}{
		{"5.5.5-10.11.6-MariaDB-0+deb12u1", true, true},
		{"10.11.6-MariaDB", true, true},
		{"10.2.44-MariaDB", true, true},
		{"5.5.5-10.1.48-MariaDB", true, false},
		{"8.0.36", false, true},
		{"5.7.44-log", false, false},
		{"garbage", false, false},
		{"", true, false},
	} {
		s := &Session{version: tc.version, mariadb: tc.mariadb}
		if got := s.groupsByValue(); got != tc.want {
			t.Errorf("groupsByValue(%q, mariadb %v) = %v, want %v", tc.version, tc.mariadb, got, tc.want)
		}
		if got := s.Pushdown().Distinct; got != tc.want {
			t.Errorf("Pushdown(%q).Distinct = %v, want %v", tc.version, got, tc.want)
		}
	}
}
