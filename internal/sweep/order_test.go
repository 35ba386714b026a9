package sweep

import (
	"testing"
)

func TestOrderIsAPermutation(t *testing.T) {
	for _, n := range []uint64{0, 1, 2, 3, 4, 5, 17, 64, 1000, 4097, 65536*4 + 3} {
		o := NewOrder(n, 42)
		seen := make([]bool, n)
		for k := range n {
			v := o.At(k)
			if v >= n || seen[v] {
				t.Fatalf("NewOrder(%d, 42).At(%d) = %d, outside or repeated", n, k, v)
			}
			seen[v] = true
		}
	}
}

func TestOrderDependsOnSeedOnly(t *testing.T) {
	a, b, c := NewOrder(1000, 7), NewOrder(1000, 7), NewOrder(1000, 8)
	same, differ := true, 0
	for k := range uint64(1000) {
		same = same && a.At(k) == b.At(k)
		if a.At(k) != c.At(k) {
			differ++
		}
	}
	if !same {
		t.Errorf("two orders of seed 7 differ")
	}
	if differ < 900 {
		t.Errorf("orders of seeds 7 and 8 differ at %d of 1000 steps, want nearly all", differ)
	}
}

// A sweep of a /24 on 4 ports must not go host by host: consecutive steps
// should land on different hosts almost always.
func TestOrderSpreadsAcrossHosts(t *testing.T) {
	const hosts, ports = 254, 4
	o := NewOrder(hosts*ports, 1)
	sameHost := 0
	for k := uint64(1); k < hosts*ports; k++ {
		if o.At(k)/ports == o.At(k-1)/ports {
			sameHost++
		}
	}
	if sameHost > 20 {
		t.Errorf("%d of %d consecutive steps hit the same host, want few", sameHost, hosts*ports-1)
	}
	// The first tenth of the sweep should already touch most hosts.
	touched := map[uint64]bool{}
	for k := range uint64(hosts * ports / 10) {
		touched[o.At(k)/ports] = true
	}
	if len(touched) < 60 {
		t.Errorf("first 10%% of steps touched %d hosts, want them spread (≥ 60 of 254)", len(touched))
	}
}

func TestShardsPartitionTheSpace(t *testing.T) {
	for _, n := range []uint64{0, 1, 5, 97, 1000} {
		for shards := uint64(1); shards <= 7; shards++ {
			o := NewOrder(n, 3)
			count := make([]int, n)
			var total uint64
			for i := uint64(1); i <= shards; i++ {
				s := Shard{I: i, N: shards}
				steps := s.Steps(n)
				total += steps
				for k := range steps {
					st := s.Step(k)
					if st >= n {
						t.Fatalf("n=%d shard %d/%d step %d = %d, out of range", n, i, shards, k, st)
					}
					count[o.At(st)]++
				}
			}
			for v, c := range count {
				if c != 1 {
					t.Fatalf("n=%d in %d shards: endpoint %d swept %d times, want once", n, shards, v, c)
				}
			}
			if total != n {
				t.Fatalf("n=%d in %d shards: %d steps in all, want %d", n, shards, total, n)
			}
		}
	}
}

func BenchmarkOrder(b *testing.B) {
	o := NewOrder(1<<24*4, 1)
	var s uint64
	for i := 0; b.Loop(); i++ {
		s += o.At(uint64(i) % (1 << 26))
	}
	_ = s
}
