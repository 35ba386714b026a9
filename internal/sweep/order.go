package sweep

import (
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// Order is a pseudo-random permutation of 0 … n-1 keyed by a seed: the
// sweep visits endpoint Order.At(k) at step k, so consecutive connects go
// to unrelated hosts and ports, and the same seed gives the same order on
// every run and every machine. It is a balanced Feistel network on the
// smallest power of four ≥ n, cycle-walking back into range, and holds no
// state but its key: a /8 costs what a /32 does.
type Order struct {
	n, half uint64 // half: bits per Feistel half
	key     [rounds]uint64
}

const rounds = 6

// NewOrder returns the order of 0 … n-1 for seed.
func NewOrder(n, seed uint64) Order {
	o := Order{n: n}
	if n > 1 {
		o.half = uint64((bits.Len64(n-1) + 1) / 2)
	}
	s := seed
	for i := range o.key {
		s = splitmix(s)
		o.key[i] = s
	}
	return o
}

// At returns the element at step k, for k < n.
func (o Order) At(k uint64) uint64 {
	if o.n <= 1 {
		return k
	}
	for {
		k = o.encrypt(k)
		if k < o.n {
			return k
		}
	}
}

func (o Order) encrypt(x uint64) uint64 {
	mask := uint64(1)<<o.half - 1
	l, r := x>>o.half, x&mask
	for _, k := range o.key {
		l, r = r, l^(splitmix(r^k)&mask)
	}
	return l<<o.half | r
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Shard is slice I of N (1-based): the steps k with k mod N = I-1. The
// slices of 1/N … N/N are disjoint and together are every step.
type Shard struct{ I, N uint64 }

// Steps is the number of steps of a space of n endpoints in this shard.
func (s Shard) Steps(n uint64) uint64 {
	if s.N <= 1 {
		return n
	}
	if n < s.I {
		return 0
	}
	return (n-s.I)/s.N + 1
}

// Step returns the k-th step of the shard as a step of the whole order.
func (s Shard) Step(k uint64) uint64 {
	if s.N <= 1 {
		return k
	}
	return k*s.N + s.I - 1
}

// ParseShard reads "I/N"; "" is the whole space, 1/1.
func ParseShard(spec string) (Shard, error) {
	if spec == "" {
		return Shard{I: 1, N: 1}, nil
	}
	i, n, ok := strings.Cut(spec, "/")
	a, err1 := strconv.ParseUint(i, 10, 64)
	b, err2 := strconv.ParseUint(n, 10, 64)
	if !ok || err1 != nil || err2 != nil || b == 0 || a < 1 || a > b {
		return Shard{}, fmt.Errorf("%q is not I/N with 1 ≤ I ≤ N (for example 2/4)", spec)
	}
	return Shard{I: a, N: b}, nil
}
