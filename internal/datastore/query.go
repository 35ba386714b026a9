package datastore

// Batches splits items, in order, into groups whose sizes (by size) add up
// to at most limit, so that each query a driver builds from one group
// stays under what its server accepts; an item larger than limit is a
// group of its own.
func Batches[T any](items []T, size func(T) int, limit int) [][]T {
	var out [][]T
	n := 0
	for _, it := range items {
		if len(out) == 0 || n+size(it) > limit {
			out = append(out, nil)
			n = 0
		}
		out[len(out)-1] = append(out[len(out)-1], it)
		n += size(it)
	}
	return out
}
