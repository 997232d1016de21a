// Package jsonscan reads API answers as a stream of JSON values without
// building a map or a string per value: a Reader walks the envelope of an
// answer (an object holding an array of results, say) and hands each
// element over as its raw bytes, checked against the JSON grammar; the
// functions over raw bytes (Members, Elements, Text, Int, Float) then read
// a row's fields in one pass, so a decoder can append them straight to
// Arrow columns.
//
// It exists because the general decoders spend most of their time
// building maps and strings that a columnar consumer throws away (bench:
// pendo_decode_ratio, hubspot_wide_decode_ratio). Its grammar is RFC 8259,
// as strict as encoding/json: invalid UTF-8 in a string is replaced with
// U+FFFD, as encoding/json does, rather than refused.
package jsonscan

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// Kind is the type of a JSON value, read off its first byte.
type Kind byte

const (
	Invalid Kind = iota
	Null
	Bool
	Number
	String
	Array
	Object
)

// KindOf returns the kind of a raw value.
func KindOf(raw []byte) Kind {
	if len(raw) == 0 {
		return Invalid
	}
	switch raw[0] {
	case 'n':
		return Null
	case 't', 'f':
		return Bool
	case '"':
		return String
	case '[':
		return Array
	case '{':
		return Object
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return Number
	}
	return Invalid
}

func (k Kind) String() string {
	return [...]string{"invalid", "null", "boolean", "number", "string", "array", "object"}[k]
}

// SyntaxError is a stream that is not JSON, at a byte offset of it.
type SyntaxError struct {
	Offset int64
	Msg    string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s at byte %d", e.Msg, e.Offset) }

// ErrTooLarge is wrapped by the error of a single value over the Reader's
// limit.
var ErrTooLarge = errors.New("a JSON value over the size limit")

// maxDepth bounds nesting, as encoding/json does (10,000), so a hostile
// answer cannot exhaust the stack.
const maxDepth = 10_000

// errShort is scan's answer when the buffer ends inside the value.
var errShort = errors.New("short buffer")

// scanner checks one value of buf starting at i and returns the index
// after it. It returns errShort when buf ends first.
type scanner struct {
	buf   []byte
	depth int
	// final says buf holds all there is: a number may end with it.
	final bool
	// tape, when not nil, receives a token per string and container.
	tape *[]token
}

// token is a string or a container of a checked value, in document order:
// its bytes [start, end) and, for a container, the index of the first
// token after everything inside it. A walk over the tape never scans a
// byte twice.
type token struct {
	start, end, next int32
	// care: a string holding an escape or a byte outside ASCII, which
	// Text must look at; a plain one is its own bytes.
	care bool
}

func (s *scanner) value(i int) (int, error) {
	i = skipSpace(s.buf, i)
	if i >= len(s.buf) {
		return i, errShort
	}
	switch c := s.buf[i]; {
	case c == '"':
		return s.str(i)
	case c == '{':
		return s.object(i)
	case c == '[':
		return s.array(i)
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number(i)
	case c == 't':
		return s.literal(i, "true")
	case c == 'f':
		return s.literal(i, "false")
	case c == 'n':
		return s.literal(i, "null")
	default:
		return i, s.errorf(i, "invalid character %s looking for a value", quoteChar(c))
	}
}

func (s *scanner) errorf(i int, format string, args ...any) error {
	return &SyntaxError{Offset: int64(i), Msg: fmt.Sprintf(format, args...)}
}

func (s *scanner) literal(i int, lit string) (int, error) {
	for k := 0; k < len(lit); k++ {
		if i+k >= len(s.buf) {
			return i, errShort
		}
		if s.buf[i+k] != lit[k] {
			return i, s.errorf(i+k, "invalid character %s in literal %s", quoteChar(s.buf[i+k]), lit)
		}
	}
	return i + len(lit), nil
}

// strPlain marks the bytes a string holds as they are and that need no
// care: ASCII, not a quote, a backslash or a control character.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func (s *scanner) str(i int) (int, error) {
	b := s.buf
	j := i + 1
	care := false
	for {
		// Eight bytes at a time while none needs a look.
		for j+8 <= len(b) && plain8(binary.LittleEndian.Uint64(b[j:])) {
			j += 8
		}
		for j < len(b) && strPlain[b[j]] {
			j++
		}
		if j >= len(b) {
			return i, errShort
		}
		switch c := b[j]; {
		case c == '"':
			if s.tape != nil {
				*s.tape = append(*s.tape, token{start: int32(i), end: int32(j + 1), care: care})
			}
			return j + 1, nil
		case c >= utf8.RuneSelf:
			care = true
			j++
		case c == '\\':
			care = true
			if j+1 >= len(b) {
				return i, errShort
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(b) {
					return i, errShort
				}
				for k := j + 2; k < j+6; k++ {
					if !isHex(b[k]) {
						return i, s.errorf(k, "invalid character %s in \\u escape", quoteChar(b[k]))
					}
				}
				j += 6
			default:
				return i, s.errorf(j+1, "invalid escape %s in string", quoteChar(b[j+1]))
			}
		default:
			return i, s.errorf(j, "invalid character %s in string (control characters must be escaped)", quoteChar(c))
		}
	}
}

// plain8 reports whether none of the eight bytes of x is a quote, a
// backslash, a control character or outside ASCII (the classic SWAR
// tests for a zero byte and for bytes below a value).
func plain8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	zero := func(v uint64) uint64 { return (v - ones) &^ v & highs }
	return (x&highs)|zero(x^(ones*'"'))|zero(x^(ones*'\\'))|((x-ones*0x20)&^x&highs) == 0
}

func (s *scanner) number(i int) (int, error) {
	b := s.buf
	j := i
	// at reports the byte at k, or ok=false at the end of the buffer:
	// errShort while more may come, the number's end when final.
	at := func(k int) (byte, bool) {
		if k < len(b) {
			return b[k], true
		}
		return 0, false
	}
	short := func(k int) (int, error) {
		if s.final {
			return i, s.errorf(k, "unexpected end of input in number")
		}
		return i, errShort
	}
	digits := func(from int) (int, bool) {
		k := from
		for k < len(b) && b[k] >= '0' && b[k] <= '9' {
			k++
		}
		return k, k > from
	}
	if b[j] == '-' {
		j++
	}
	c, ok := at(j)
	switch {
	case !ok:
		return short(j)
	case c == '0':
		j++
	case c >= '1' && c <= '9':
		j, _ = digits(j)
	default:
		return i, s.errorf(j, "invalid character %s in number", quoteChar(c))
	}
	c, ok = at(j)
	if !ok {
		if s.final {
			return j, nil
		}
		return i, errShort
	}
	if c == '.' {
		var any bool
		if j, any = digits(j + 1); !any {
			if j >= len(b) {
				return short(j)
			}
			return i, s.errorf(j, "invalid character %s after a decimal point", quoteChar(b[j]))
		}
		if c, ok = at(j); !ok {
			if s.final {
				return j, nil
			}
			return i, errShort
		}
	}
	if c == 'e' || c == 'E' {
		j++
		if c, ok = at(j); ok && (c == '+' || c == '-') {
			j++
		}
		var any bool
		if j, any = digits(j); !any {
			if j >= len(b) {
				return short(j)
			}
			return i, s.errorf(j, "invalid character %s in exponent", quoteChar(b[j]))
		}
		if j >= len(b) && !s.final {
			return i, errShort
		}
	}
	return j, nil
}

func (s *scanner) enter(i int) error {
	if s.depth++; s.depth > maxDepth {
		return s.errorf(i, "nesting deeper than %d", maxDepth)
	}
	return nil
}

// open records a container's token, to be closed by close.
func (s *scanner) open(i int) int {
	if s.tape == nil {
		return -1
	}
	*s.tape = append(*s.tape, token{start: int32(i)})
	return len(*s.tape) - 1
}

func (s *scanner) close(k, end int) int {
	if k >= 0 {
		t := *s.tape
		t[k].end, t[k].next = int32(end), int32(len(t))
	}
	return end
}

func (s *scanner) object(i int) (int, error) {
	if err := s.enter(i); err != nil {
		return i, err
	}
	defer func() { s.depth-- }()
	k := s.open(i)
	b := s.buf
	j := skipSpace(b, i+1)
	if j >= len(b) {
		return i, errShort
	}
	if b[j] == '}' {
		return s.close(k, j+1), nil
	}
	for {
		if j >= len(b) {
			return i, errShort
		}
		if b[j] != '"' {
			return i, s.errorf(j, "invalid character %s looking for an object key", quoteChar(b[j]))
		}
		var err error
		if j, err = s.str(j); err != nil {
			return i, err
		}
		j = skipSpace(b, j)
		if j >= len(b) {
			return i, errShort
		}
		if b[j] != ':' {
			return i, s.errorf(j, "invalid character %s after an object key", quoteChar(b[j]))
		}
		if j, err = s.value(j + 1); err != nil {
			return i, err
		}
		j = skipSpace(b, j)
		if j >= len(b) {
			return i, errShort
		}
		switch b[j] {
		case ',':
			j = skipSpace(b, j+1)
		case '}':
			return s.close(k, j+1), nil
		default:
			return i, s.errorf(j, "invalid character %s after an object value", quoteChar(b[j]))
		}
	}
}

func (s *scanner) array(i int) (int, error) {
	if err := s.enter(i); err != nil {
		return i, err
	}
	defer func() { s.depth-- }()
	k := s.open(i)
	b := s.buf
	j := skipSpace(b, i+1)
	if j >= len(b) {
		return i, errShort
	}
	if b[j] == ']' {
		return s.close(k, j+1), nil
	}
	for {
		var err error
		if j, err = s.value(j); err != nil {
			return i, err
		}
		j = skipSpace(b, j)
		if j >= len(b) {
			return i, errShort
		}
		switch b[j] {
		case ',':
			j++
		case ']':
			return s.close(k, j+1), nil
		default:
			return i, s.errorf(j, "invalid character %s after an array element", quoteChar(b[j]))
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func quoteChar(c byte) string {
	if c < utf8.RuneSelf {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// Valid reports whether raw is exactly one JSON value, with optional
// whitespace around it.
func Valid(raw []byte) error {
	s := scanner{buf: raw, final: true}
	end, err := s.value(0)
	if err == errShort {
		return io.ErrUnexpectedEOF
	}
	if err != nil {
		return err
	}
	if end = skipSpace(raw, end); end != len(raw) {
		return &SyntaxError{Offset: int64(end), Msg: fmt.Sprintf("invalid character %s after the value", quoteChar(raw[end]))}
	}
	return nil
}

// Text returns the contents of a raw string value, unescaped. The result
// aliases raw when raw holds no escape and only valid UTF-8; otherwise it
// is appended to scratch[:0] (which may be nil). raw must have been checked
// (by a Reader or Valid).
func Text(raw, scratch []byte) []byte {
	body := raw[1 : len(raw)-1]
	for i := 0; i < len(body); i++ {
		if c := body[i]; c == '\\' || c >= utf8.RuneSelf {
			if c >= utf8.RuneSelf && !hasEscape(body[i:]) && utf8.Valid(body[i:]) {
				return body
			}
			return unescape(append(scratch[:0], body[:i]...), body[i:])
		}
	}
	return body
}

func hasEscape(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
}

// unescape appends the unescaped body to dst, with invalid UTF-8 and lone
// surrogates replaced by U+FFFD, as encoding/json does.
func unescape(dst, b []byte) []byte {
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '\\':
			switch b[i+1] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := rune(hex4(b[i+2:]))
				i += 6
				if utf16.IsSurrogate(r) {
					if i+6 <= len(b) && b[i] == '\\' && b[i+1] == 'u' {
						if r2 := utf16.DecodeRune(r, rune(hex4(b[i+2:]))); r2 != utf8.RuneError {
							dst = utf8.AppendRune(dst, r2)
							i += 6
							continue
						}
					}
					r = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, b[i+1])
			}
			i += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				dst = utf8.AppendRune(dst, utf8.RuneError)
			} else {
				dst = append(dst, b[i:i+size]...)
			}
			i += size
		}
	}
	return dst
}

func hex4(b []byte) uint16 {
	var v uint16
	for _, c := range b[:4] {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= uint16(c - '0')
		case c >= 'a' && c <= 'f':
			v |= uint16(c - 'a' + 10)
		default:
			v |= uint16(c - 'A' + 10)
		}
	}
	return v
}

// end returns the index just after the checked value that starts at i.
// Strings, most of an answer's bytes, are skipped with bytes.IndexByte.
func end(b []byte, i int) int {
	switch b[i] {
	case '"':
		return strEnd(b, i+1)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = strEnd(b, j+1) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j
		}
		j++
	}
	return j
}

// strEnd returns the index after the closing quote of the checked string
// whose contents start at j.
func strEnd(b []byte, j int) int {
	for {
		q := j + bytes.IndexByte(b[j:], '"')
		// The quote is escaped when an odd run of backslashes precedes it;
		// the run stops at the opening quote at the latest.
		n := 0
		for p := q - 1; b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
}

// Members calls fn for each member of a checked raw object, in order,
// with the key unescaped (aliasing raw when it has no escape) and the raw
// value. fn's error stops the walk and is returned.
func Members(raw []byte, fn func(key, value []byte) error) error {
	if KindOf(raw) != Object {
		return fmt.Errorf("not an object but %s", KindOf(raw))
	}
	var scratch []byte
	i := skipSpace(raw, 1)
	for i < len(raw) && raw[i] != '}' {
		kend := end(raw, i)
		key := raw[i:kend]
		var k []byte
		if hasEscape(key) {
			scratch = Text(key, scratch)
			k = scratch
		} else {
			k = key[1 : len(key)-1]
		}
		i = skipSpace(raw, kend)
		i = skipSpace(raw, i+1) // the colon
		vend := end(raw, i)
		if err := fn(k, raw[i:vend]); err != nil {
			return err
		}
		i = skipSpace(raw, vend)
		if raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return nil
}

// Elements calls fn for each element of a checked raw array, in order.
func Elements(raw []byte, fn func(value []byte) error) error {
	if KindOf(raw) != Array {
		return fmt.Errorf("not an array but %s", KindOf(raw))
	}
	i := skipSpace(raw, 1)
	for i < len(raw) && raw[i] != ']' {
		vend := end(raw, i)
		if err := fn(raw[i:vend]); err != nil {
			return err
		}
		i = skipSpace(raw, vend)
		if raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return nil
}

// Int parses a checked raw number that is an integer in int64's range:
// no fraction, no exponent.
func Int(raw []byte) (int64, bool) {
	if KindOf(raw) != Number {
		return 0, false
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	return n, err == nil
}

// Float parses a checked raw number; one out of float64's range is not
// one.
func Float(raw []byte) (float64, bool) {
	if KindOf(raw) != Number {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	return f, err == nil
}
