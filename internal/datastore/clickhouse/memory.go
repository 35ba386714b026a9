package clickhouse

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"unsafe"

	"github.com/leakhound/leakhound/internal/datastore"
)

// memBudget counts the bytes a session holds of what its server sent:
// every cell as its bytes and its string header, every row as its slice
// header, every column a block is decoded into. A byte on the wire can
// cost thirty in memory (an empty string is one byte sent, two string
// headers and a share of a row held), so a cap on bytes read alone does not
// bound memory; this does. Decoders charge before they allocate, so an
// answer over the budget is refused before it is held.
//
// One budget serves one session, which runs one query at a time: it is not
// safe for concurrent use.
type memBudget struct {
	server string // who sent what is held, for the error
	limit  int64
	held   int64
}

func newMemBudget(server string, limit int64) *memBudget {
	return &memBudget{server: server, limit: limit}
}

// errMemoryBudget is what a query over the budget fails with, wrapped in
// an error naming the server and the budget.
var errMemoryBudget = errors.New("memory budget exhausted")

// What holding a value costs besides its bytes, on a 64-bit platform.
const (
	stringHeader = 16
	sliceHeader  = 24
)

// charge takes n bytes from the budget, or fails without taking any.
func (m *memBudget) charge(n int64) error {
	if err := m.check(n); err != nil {
		return err
	}
	m.held += n
	return nil
}

// check reports whether n more bytes would fit, taking none.
func (m *memBudget) check(n int64) error {
	if n < 0 || n > m.limit-m.held {
		return fmt.Errorf("%s sent more than the %d MiB leakhound holds of one server's answers (%.1f MiB held, %.1f MiB more asked): %w",
			m.server, m.limit>>20, float64(m.held)/(1<<20), float64(n)/(1<<20), errMemoryBudget)
	}
	return nil
}

// mark and reset bracket work whose allocations are dropped when it ends:
// reset(mark) gives back everything charged since. A nil budget (a session
// built without one) counts nothing.
func (m *memBudget) mark() int64 {
	if m == nil {
		return 0
	}
	return m.held
}

func (m *memBudget) reset(mark int64) {
	if m != nil {
		m.held = mark
	}
}

func cellCost(s string) int64 { return stringHeader + int64(len(s)) }

// rowCost is what a row of ncols empty values costs.
func rowCost(ncols int) int64 { return sliceHeader + stringHeader*int64(ncols) }

func rowsCost(rows [][]string) int64 {
	var n int64
	for _, r := range rows {
		n += sliceHeader
		for _, c := range r {
			n += cellCost(c)
		}
	}
	return n
}

// Inventory implements datastore.Session. Its answers (databases, tables,
// parts, columns) are all held at once while the listing is built, each
// charged to the session's budget; once it is built only the inventory is,
// for as long as the session lasts, since the caller keeps it.
func (s *session) Inventory(ctx context.Context) (datastore.Inventory, error) {
	s.mem.reset(s.invHeld + s.rowsHeld) // what earlier calls read and returned no part of
	inv, err := s.inventory(ctx)
	s.invHeld = inventoryCost(inv)
	s.mem.reset(s.invHeld + s.rowsHeld)
	return inv, err
}

// Sample implements datastore.Session. The rows it returns are held in the
// session's budget until the next Sample: by then the caller has
// classified them and let them go.
func (s *session) Sample(ctx context.Context, t datastore.Table, lim datastore.Limits) (datastore.Rows, error) {
	s.rowsHeld = 0
	s.mem.reset(s.invHeld)
	rows, err := s.sampleTable(ctx, t, lim)
	for i, v := range rows.Values {
		// A row read natively is a view of its whole block: a copy of its
		// headers lets the block go, so that what is held is what is kept.
		rows.Values[i] = slices.Clone(v)
	}
	s.rowsHeld = rowsCost(rows.Values)
	s.mem.reset(s.invHeld + s.rowsHeld)
	return rows, err
}

// inventoryCost is what an inventory holds: its names, and a struct for
// each database, table and column.
func inventoryCost(inv datastore.Inventory) int64 {
	n := int64(unsafe.Sizeof(inv))
	for _, db := range inv.Databases {
		n += int64(unsafe.Sizeof(db)) + int64(len(db.Name)+len(db.Engine))
		for _, t := range db.Tables {
			n += int64(unsafe.Sizeof(t)) + int64(len(t.Database)+len(t.Name)+len(t.Engine))
			for _, c := range t.Columns {
				n += int64(unsafe.Sizeof(c)) + int64(len(c.Name)+len(c.Type))
			}
		}
	}
	return n
}
