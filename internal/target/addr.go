package target

import (
	"math/bits"
	"net/netip"
)

// u128 is an address as a number, so that ranges can be measured and
// indexed; IPv4 addresses are numbered in their own space.
type u128 struct{ hi, lo uint64 }

func num(a netip.Addr) u128 {
	b := a.As16()
	if a.Is4() {
		return u128{lo: uint64(b[12])<<24 | uint64(b[13])<<16 | uint64(b[14])<<8 | uint64(b[15])}
	}
	var n u128
	for i := 0; i < 8; i++ {
		n.hi = n.hi<<8 | uint64(b[i])
		n.lo = n.lo<<8 | uint64(b[8+i])
	}
	return n
}

func (n u128) addr(v4 bool) netip.Addr {
	if v4 {
		return netip.AddrFrom4([4]byte{byte(n.lo >> 24), byte(n.lo >> 16), byte(n.lo >> 8), byte(n.lo)})
	}
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(n.hi >> (56 - 8*i))
		b[8+i] = byte(n.lo >> (56 - 8*i))
	}
	return netip.AddrFrom16(b)
}

func (n u128) add(k uint64) u128 {
	lo, carry := bits.Add64(n.lo, k, 0)
	return u128{n.hi + carry, lo}
}

// sizeOf is the number of addresses from first to last inclusive,
// saturating at 2^64-1.
func sizeOf(first, last netip.Addr) uint64 {
	a, b := num(first), num(last)
	lo, borrow := bits.Sub64(b.lo, a.lo, 0)
	hi := b.hi - a.hi - borrow
	if hi != 0 || lo == ^uint64(0) {
		return ^uint64(0)
	}
	return lo + 1
}
