package jsonscan

import (
	"errors"
	"fmt"
	"io"
)

// Value is one checked JSON value together with the tape its check
// recorded (where each string and container ends), so that walking its
// members reads no byte twice. It aliases the bytes it came from: one from
// a Reader is valid until the Reader's next call.
type Value struct {
	doc        *doc
	start, end int32
	tok        int32 // its token on the tape; -1 for a number or literal
}

type doc struct {
	raw  []byte
	tape []token
}

// Parse checks raw, one JSON value with optional whitespace around it, and
// returns it as a Value.
func Parse(raw []byte) (Value, error) {
	d := &doc{raw: raw}
	s := scanner{buf: raw, final: true, tape: &d.tape}
	i := skipSpace(raw, 0)
	end, err := s.value(i)
	if err == errShort {
		return Value{}, io.ErrUnexpectedEOF
	}
	if err != nil {
		return Value{}, err
	}
	if j := skipSpace(raw, end); j != len(raw) {
		return Value{}, &SyntaxError{Offset: int64(j), Msg: fmt.Sprintf("invalid character %s after the value", quoteChar(raw[j]))}
	}
	v, _, err := d.at(i, 0)
	return v, err
}

// errOutOfStep is a walk whose tape does not match its bytes: a Value
// used after the Reader read on (its bytes are reused), never bad input,
// which the scan that built the tape refused.
var errOutOfStep = errors.New("jsonscan: the value's tape does not match its bytes (a Value used after its Reader read on?)")

// at returns the value that starts at i, whose token, if it has one, is
// tape[t], and the index of the next token after it.
func (d *doc) at(i, t int) (Value, int, error) {
	switch d.raw[i] {
	case '"', '{', '[':
		if t >= len(d.tape) || int(d.tape[t].start) != i {
			return Value{}, t, errOutOfStep
		}
		tk := d.tape[t]
		next := t + 1
		if d.raw[i] != '"' {
			next = int(tk.next)
		}
		return Value{d, int32(i), tk.end, int32(t)}, next, nil
	}
	return Value{d, int32(i), int32(end(d.raw, i)), -1}, t, nil
}

// Raw returns the value's bytes.
func (v Value) Raw() []byte {
	if v.doc == nil {
		return nil
	}
	return v.doc.raw[v.start:v.end]
}

// Kind returns the value's kind; Invalid for the zero Value.
func (v Value) Kind() Kind { return KindOf(v.Raw()) }

// Text returns a string value's contents unescaped, aliasing the value
// when it needs no unescaping, else appended to scratch[:0]; nil for a
// value that is not a string.
func (v Value) Text(scratch []byte) []byte {
	if v.Kind() != String {
		return nil
	}
	if !v.doc.tape[v.tok].care {
		return v.doc.raw[v.start+1 : v.end-1]
	}
	return Text(v.Raw(), scratch)
}

// Int parses a number value that is an integer (see Int).
func (v Value) Int() (int64, bool) { return Int(v.Raw()) }

// Float parses a number value (see Float).
func (v Value) Float() (float64, bool) { return Float(v.Raw()) }

// Members calls fn for each member of an object value, in order, with the
// key unescaped (valid during the call). fn's error stops the walk.
func (v Value) Members(fn func(key []byte, value Value) error) error {
	if k := v.Kind(); k != Object {
		return fmt.Errorf("not an object but %s", k)
	}
	d := v.doc
	b := d.raw
	t := int(v.tok) + 1
	var scratch []byte
	i := skipSpace(b, int(v.start)+1)
	for b[i] != '}' {
		kt := d.tape[t]
		t++
		key := b[kt.start+1 : kt.end-1]
		if kt.care {
			scratch = Text(b[kt.start:kt.end], scratch)
			key = scratch
		}
		i = skipSpace(b, int(kt.end))
		i = skipSpace(b, i+1) // past the colon
		val, next, err := d.at(i, t)
		if err != nil {
			return err
		}
		t = next
		if err := fn(key, val); err != nil {
			return err
		}
		if i = skipSpace(b, int(val.end)); b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return nil
}

// Elements calls fn for each element of an array value, in order.
func (v Value) Elements(fn func(value Value) error) error {
	if k := v.Kind(); k != Array {
		return fmt.Errorf("not an array but %s", k)
	}
	d := v.doc
	b := d.raw
	t := int(v.tok) + 1
	i := skipSpace(b, int(v.start)+1)
	for b[i] != ']' {
		val, next, err := d.at(i, t)
		if err != nil {
			return err
		}
		t = next
		if err := fn(val); err != nil {
			return err
		}
		if i = skipSpace(b, int(val.end)); b[i] == ',' {
			i = skipSpace(b, i+1)
		}
	}
	return nil
}
