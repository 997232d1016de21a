// Package memfile is a connector for tests: a "file" of tables held in
// memory, which its source reads and its destinations write. It is not in
// the shipped table (connector/builtin); a test adds it:
//
//	table := append(builtin.Connectors(), memfile.New(store))
//
// It is as strict as the shipped connectors where the suites look: a
// destination refuses undeclared fields, values outside a field's allowed
// set (per row), and records it does not hold (update mode); its faults
// fail calls after doing the work, as real APIs do.
package memfile

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"
)

// Store is the in-memory file: tables of records, by id.
type Store struct {
	mu     sync.Mutex
	tables map[string]*table
	now    func() time.Time
	// faults
	rng       *rand.Rand
	errRate   float64
	failReads map[string]error
	calls     int64
	onApply   func(call int64)
}

type table struct {
	// fields declared: name → type (string, number, bool, time); allowed
	// values per field, when limited.
	fields  map[string]string
	allowed map[string][]string
	records map[string]*record
	// events appended in order (events mode).
	events []Event
}

type record struct {
	values    map[string]any
	updatedAt time.Time
	archived  bool
}

// Event is one event a destination received.
type Event struct {
	Key    string
	Values map[string]any
}

// NewStore is an empty store whose clock is now.
func NewStore(now func() time.Time) *Store {
	return &Store{tables: map[string]*table{}, now: now, rng: rand.New(rand.NewPCG(1, 2)), failReads: map[string]error{}}
}

func (s *Store) table(name string) *table {
	t := s.tables[name]
	if t == nil {
		t = &table{fields: map[string]string{}, allowed: map[string][]string{}, records: map[string]*record{}}
		s.tables[name] = t
	}
	return t
}

// Declare declares a field of a table: string, number, bool or time; a
// string field may be limited to allowed values.
func (s *Store) Declare(tableName, field, typ string, allowed ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.table(tableName)
	t.fields[field] = typ
	if len(allowed) > 0 {
		t.allowed[field] = allowed
	}
}

// Put writes a record (its declared fields) at the store's present.
func (s *Store) Put(tableName, id string, values map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(s.table(tableName), id, values)
}

func (s *Store) put(t *table, id string, values map[string]any) {
	r := t.records[id]
	if r == nil {
		r = &record{values: map[string]any{}}
		t.records[id] = r
	}
	for k, v := range values {
		if v == nil {
			delete(r.values, k)
		} else {
			r.values[k] = v
		}
	}
	r.updatedAt = s.now()
	r.archived = false
}

// Get returns a record's values and whether it exists (not archived).
func (s *Store) Get(tableName, id string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.table(tableName).records[id]
	if r == nil || r.archived {
		return nil, false
	}
	out := map[string]any{}
	for k, v := range r.values {
		out[k] = v
	}
	return out, true
}

// Events returns the events a table received, in order.
func (s *Store) Events(tableName string) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.table(tableName).events)
}

// Calls counts the destination calls made so far.
func (s *Store) Calls() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// FailAfterWork makes a share of destination calls fail after doing
// their work, from a fixed seed.
func (s *Store) FailAfterWork(rate float64, seed uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errRate, s.rng = rate, rand.New(rand.NewPCG(seed, seed+1))
}

// FailReads makes every read of a table fail with err (nil: reads work).
func (s *Store) FailReads(tableName string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.failReads, tableName)
		return
	}
	s.failReads[tableName] = err
}

// OnApply, when set, is called at the start of every destination call,
// with its number (from 1), outside the store's lock.
func (s *Store) OnApply(fn func(call int64)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onApply = fn
}

// fields is a table's declared fields.
func (s *Store) fields(tableName string) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for k, v := range s.table(tableName).fields {
		out[k] = v
	}
	return out
}

// snapshot is a table's records for a read: updated at or after since
// (all when zero), in id order.
func (s *Store) snapshot(tableName string, since time.Time) (fields map[string]string, ids []string, rows []map[string]any, updated []time.Time, deleted []bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failReads[tableName]; err != nil {
		return nil, nil, nil, nil, nil, err
	}
	t := s.table(tableName)
	fields = map[string]string{}
	for k, v := range t.fields {
		fields[k] = v
	}
	for id := range t.records {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	keep := ids[:0]
	for _, id := range ids {
		r := t.records[id]
		if !since.IsZero() && r.updatedAt.Before(since) {
			continue
		}
		keep = append(keep, id)
		vals := map[string]any{}
		for k, v := range r.values {
			vals[k] = v
		}
		rows, updated, deleted = append(rows, vals), append(updated, r.updatedAt), append(deleted, r.archived)
	}
	return fields, keep, rows, updated, deleted, nil
}

// errServer is the error of a call that failed after doing its work.
var errServer = fmt.Errorf("memfile: 503 after the write was applied")
