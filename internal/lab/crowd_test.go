package lab

import (
	"slices"
	"strings"
	"testing"

	"github.com/leakhound/leakhound/internal/classify"
)

// TestCrowdPlan checks the plan against the engine, without a server: its
// real values are found (every crowded kind and rule, every scheme), its
// documentation values are not, and placeholders outnumber real values
// under every keyword they share.
func TestCrowdPlan(t *testing.T) {
	e := classify.Default()
	kinds, rules, schemes := map[string]int{}, map[string]int{}, map[string]int{}
	placeholders, akia := 0, 0
	for i := CrowdAt; i < CrowdEvery*CrowdEvery; i += CrowdEvery {
		v := crowded(i)
		if v == "" {
			continue
		}
		if strings.Contains(v, DocAWSKeyID) {
			akia++
		}
		ds := e.Scan(v)
		if len(ds) == 0 {
			placeholders++
		}
		for _, d := range ds {
			kinds[d.Kind]++
			rules[d.Rule]++
			if d.Kind == "connection_string" {
				scheme, _, _ := strings.Cut(v[d.Start:d.End], "://")
				schemes[scheme]++
			}
		}
	}
	for _, k := range CrowdedKinds {
		if kinds[k] == 0 || kinds[k] > 5 {
			t.Errorf("crowd plan: %d values of kind %s found, want a handful", kinds[k], k)
		}
	}
	for _, r := range CrowdedRules {
		if rules[r] == 0 || rules[r] > 5 {
			t.Errorf("crowd plan: %d values of rule %s found, want a handful", rules[r], r)
		}
	}
	for _, s := range ConnectionSchemes[1:] {
		if schemes[s] == 0 || schemes[s] > 5 {
			t.Errorf("crowd plan: %d connection strings of scheme %s found, want a handful", schemes[s], s)
		}
	}
	if akia < 300 || placeholders < 800 {
		t.Errorf("crowd plan: %d rows with %s, %d rows of placeholders only; want at least 300 and 800", akia, DocAWSKeyID, placeholders)
	}
}

// TestBigSecretAWS: in the big tables the mix's AWS key id is the
// documentation one, and its real secret key still makes it aws.
func TestBigSecretAWS(t *testing.T) {
	var buf strings.Builder
	if err := WriteLogStream(&buf, 20000, 1); err != nil {
		t.Fatal(err)
	}
	e := classify.Default()
	var rules []string
	n := 0
	for _, line := range strings.Split(buf.String(), "\n") {
		if !strings.Contains(line, "SecretAccessKey") {
			continue
		}
		n++
		if !strings.Contains(line, DocAWSKeyID) {
			t.Fatalf("a 1-in-400 AWS row holds another key id than %s", DocAWSKeyID)
		}
		for _, d := range e.Scan(unescapeArray(strings.Split(line, "\t")[3])) {
			if d.Kind == "aws" && !slices.Contains(rules, d.Rule) {
				rules = append(rules, d.Rule)
			}
		}
	}
	if n == 0 || !slices.Equal(rules, []string{"aws-secret-access-key"}) {
		t.Errorf("%d AWS rows in 20000; aws found by rules %q, want only aws-secret-access-key", n, rules)
	}
}
