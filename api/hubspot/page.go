package hubspot

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/backflow-dev/backflow/api/jsonscan"
)

// Page is one page of records from a listing or a search, as read off the
// answer: ids, times and every property value in one buffer, with no map
// or string per value, so that a columnar consumer copies each value once.
//
// Properties are numbered: the ones asked for first, in the order asked,
// then any others the answer carried (HubSpot adds hs_object_id,
// createdate and the last-modified date unasked).
type Page struct {
	props []string
	index map[string]int
	recs  []pageRecord
	cells []cell
	text  []byte

	// seenAt[prop] is the cell of prop in the record being read, valid
	// when seenGen[prop] is the record's number: a repeated key keeps the
	// last value, as encoding/json does.
	seenAt, seenGen []int32
	// order is the property numbers of the last record read, in the
	// answer's order: records list their properties alike, so the name
	// at position j is checked against order[j] before the map.
	order []int32
}

type pageRecord struct {
	id               string
	created, updated time.Time
	archived         bool
	first, n         int32 // its cells
}

// cell is one property value: text[off:off+n], or null when n < 0.
type cell struct{ prop, off, n int32 }

// newPage starts a page of records whose properties asked for are props,
// with room for as much as hint held (the previous page, or nil).
func newPage(props []string, hint *Page) *Page {
	p := &Page{props: props, index: make(map[string]int, len(props))}
	if hint != nil {
		p.recs = make([]pageRecord, 0, cap(hint.recs))
		p.cells = make([]cell, 0, cap(hint.cells))
		p.text = make([]byte, 0, cap(hint.text))
		p.order = slices.Clone(hint.order)
	}
	for i, name := range props {
		p.index[name] = i
	}
	p.seenAt = make([]int32, len(props))
	p.seenGen = make([]int32, len(props))
	return p
}

// Len is the number of records.
func (p *Page) Len() int { return len(p.recs) }

// ID is record i's id.
func (p *Page) ID(i int) string { return p.recs[i].id }

// CreatedAt and UpdatedAt are record i's times; zero when the answer had
// none.
func (p *Page) CreatedAt(i int) time.Time { return p.recs[i].created }
func (p *Page) UpdatedAt(i int) time.Time { return p.recs[i].updated }

// Archived reports whether record i is archived.
func (p *Page) Archived(i int) bool { return p.recs[i].archived }

// Properties names the properties by number (see Page).
func (p *Page) Properties() []string { return p.props }

// Values calls fn for each property value record i carries, with the
// property's number and its text, valid during the call; null is a
// property sent as null. A property the record does not carry is not
// called for.
func (p *Page) Values(i int, fn func(prop int, text []byte, null bool)) {
	r := p.recs[i]
	for _, c := range p.cells[r.first : r.first+r.n] {
		if c.n < 0 {
			fn(int(c.prop), nil, true)
		} else {
			fn(int(c.prop), p.text[c.off:c.off+c.n], false)
		}
	}
}

// Value returns record i's value of the named property; ok is false when
// the record does not carry it or carries null.
func (p *Page) Value(i int, name string) (string, bool) {
	k, known := p.index[name]
	if !known {
		return "", false
	}
	r := p.recs[i]
	for _, c := range p.cells[r.first : r.first+r.n] {
		if int(c.prop) == k {
			if c.n < 0 {
				return "", false
			}
			return string(p.text[c.off : c.off+c.n]), true
		}
	}
	return "", false
}

// Objects returns the page as Objects, for callers that want maps.
func (p *Page) Objects() []Object {
	out := make([]Object, len(p.recs))
	for i, r := range p.recs {
		props := make(map[string]*string, r.n)
		p.Values(i, func(prop int, text []byte, null bool) {
			if null {
				props[p.props[prop]] = nil
				return
			}
			s := string(text)
			props[p.props[prop]] = &s
		})
		out[i] = Object{ID: r.id, Properties: props, CreatedAt: r.created, UpdatedAt: r.updated, Archived: r.archived}
	}
	return out
}

// pageOf builds a page from Objects (after a batch read filled in
// properties a listing could not ask for).
func pageOf(props []string, objs []Object) *Page {
	p := newPage(props, nil)
	for _, o := range objs {
		p.recs = append(p.recs, pageRecord{id: o.ID, created: o.CreatedAt, updated: o.UpdatedAt, archived: o.Archived, first: int32(len(p.cells))})
		r := &p.recs[len(p.recs)-1]
		for _, name := range sortedNames(o.Properties) {
			k := p.prop(name)
			if v := o.Properties[name]; v == nil {
				p.cells = append(p.cells, cell{prop: int32(k), n: -1})
			} else {
				p.cells = append(p.cells, cell{prop: int32(k), off: int32(len(p.text)), n: int32(len(*v))})
				p.text = append(p.text, *v...)
			}
			r.n++
		}
	}
	return p
}

// prop returns the number of the named property, adding it when the
// answer carries one not asked for.
func (p *Page) prop(name string) int {
	if k, ok := p.index[name]; ok {
		return k
	}
	p.props = append(p.props, name)
	p.index[name] = len(p.props) - 1
	p.seenAt = append(p.seenAt, 0)
	p.seenGen = append(p.seenGen, 0)
	return len(p.props) - 1
}

// lookup returns the number of the property named name, found at
// position j of a record.
func (p *Page) lookup(name []byte, j int) int {
	if j < len(p.order) {
		if g := p.order[j]; int(g) < len(p.props) && p.props[g] == string(name) {
			return int(g)
		}
	}
	k, known := p.index[string(name)] // no allocation for a known name
	if !known {
		k = p.prop(string(name))
	}
	if j < len(p.order) {
		p.order[j] = int32(k)
	} else if j == len(p.order) {
		p.order = append(p.order, int32(k))
	}
	return k
}

// add reads one record of a results array.
func (p *Page) add(rec jsonscan.Value) error {
	if rec.Kind() != jsonscan.Object {
		return fmt.Errorf("result %d is %s, not an object", len(p.recs), rec.Kind())
	}
	if len(p.text) > math.MaxInt32/2 {
		return fmt.Errorf("result %d: the page's text passes %d bytes", len(p.recs), math.MaxInt32/2)
	}
	r := pageRecord{first: int32(len(p.cells))}
	gen := int32(len(p.recs) + 1)
	var scratch []byte
	err := rec.Members(func(key []byte, v jsonscan.Value) error {
		var err error
		switch string(key) {
		case "id":
			if v.Kind() != jsonscan.String {
				return fmt.Errorf("id is %s, not a string", v.Kind())
			}
			r.id = string(v.Text(scratch))
		case "createdAt":
			r.created, err = timeValue(v)
		case "updatedAt":
			r.updated, err = timeValue(v)
		case "archived":
			switch v.Kind() {
			case jsonscan.Bool:
				r.archived = v.Raw()[0] == 't'
			case jsonscan.Null:
			default:
				return fmt.Errorf("archived is %s, not a boolean", v.Kind())
			}
		case "properties":
			switch v.Kind() {
			case jsonscan.Object:
				j := 0
				return v.Members(func(name []byte, val jsonscan.Value) error {
					k := p.lookup(name, j)
					j++
					c := cell{prop: int32(k), n: -1}
					switch val.Kind() {
					case jsonscan.String:
						t := val.Text(scratch)
						c.off, c.n = int32(len(p.text)), int32(len(t))
						p.text = append(p.text, t...)
					case jsonscan.Null:
					default:
						return fmt.Errorf("property %s is %s, not a string", name, val.Kind())
					}
					if p.seenGen[c.prop] == gen {
						p.cells[p.seenAt[c.prop]] = c // a repeated key: the last one stands
						return nil
					}
					p.seenGen[c.prop], p.seenAt[c.prop] = gen, int32(len(p.cells))
					p.cells = append(p.cells, c)
					r.n++
					return nil
				})
			case jsonscan.Null:
			default:
				return fmt.Errorf("properties is %s, not an object", v.Kind())
			}
		}
		return err
	})
	if err != nil {
		if r.id != "" {
			return fmt.Errorf("result %d (id %s): %w", len(p.recs), r.id, err)
		}
		return fmt.Errorf("result %d: %w", len(p.recs), err)
	}
	p.recs = append(p.recs, r)
	return nil
}

// timeValue reads createdAt or updatedAt: an RFC 3339 string, or null.
func timeValue(v jsonscan.Value) (time.Time, error) {
	switch v.Kind() {
	case jsonscan.Null:
		return time.Time{}, nil
	case jsonscan.String:
		t, err := time.Parse(time.RFC3339, string(v.Text(nil)))
		if err != nil {
			return time.Time{}, fmt.Errorf("%s is not a time", v.Raw())
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%s is not a time", v.Raw())
}

// pageAnswer is a listing's or a search's answer, read as it streams:
// results into a Page, paging and total aside.
type pageAnswer struct {
	page       *Page
	hasResults bool // a results array was there (null or absent is not an empty page)
	next       string
	total      int
}

func (a *pageAnswer) decodeJSON(rd *jsonscan.Reader) error {
	if err := rd.Enter('{'); err != nil {
		return err
	}
	for {
		more, err := rd.More()
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
		key, err := rd.Key()
		if err != nil {
			return err
		}
		switch string(key) {
		case "results":
			if err := a.results(rd); err != nil {
				return err
			}
		case "paging":
			v, err := rd.Doc()
			if err != nil {
				return err
			}
			if a.next, err = nextCursor(v); err != nil {
				return err
			}
		case "total":
			v, err := rd.Doc()
			if err != nil {
				return err
			}
			n, ok := v.Int()
			if !ok && v.Kind() != jsonscan.Null {
				return fmt.Errorf("total is %s, not a count", v.Raw())
			}
			a.total = int(n)
		default:
			if err := rd.Skip(); err != nil {
				return err
			}
		}
	}
}

func (a *pageAnswer) results(rd *jsonscan.Reader) error {
	v, err := rd.Peek()
	if err != nil {
		return err
	}
	if v == jsonscan.Null {
		a.hasResults = false
		return rd.Skip()
	}
	if err := rd.Enter('['); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	a.hasResults = true
	for {
		more, err := rd.More()
		if err != nil {
			return err
		}
		if !more {
			return nil
		}
		rec, err := rd.Doc()
		if err != nil {
			return err
		}
		if err := a.page.add(rec); err != nil {
			return err
		}
	}
}

// nextCursor reads paging.next.after; "" when there is none.
func nextCursor(paging jsonscan.Value) (string, error) {
	if paging.Kind() == jsonscan.Null {
		return "", nil
	}
	var after string
	err := paging.Members(func(key []byte, next jsonscan.Value) error {
		if string(key) != "next" || next.Kind() == jsonscan.Null {
			return nil
		}
		return next.Members(func(key []byte, v jsonscan.Value) error {
			if string(key) == "after" {
				if v.Kind() != jsonscan.String {
					return fmt.Errorf("paging.next.after is %s, not a string", v.Kind())
				}
				after = string(v.Text(nil))
			}
			return nil
		})
	})
	if err != nil {
		return "", fmt.Errorf("paging: %w", err)
	}
	return after, nil
}

func sortedNames(m map[string]*string) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}
