package jsonscan

import (
	"errors"
	"fmt"
	"io"
)

// Reader pulls JSON from a stream: delimiters and keys of the envelope
// one at a time, and whole values (a result row, say) as raw bytes
// checked against the grammar. Memory is the buffer, which grows to hold
// the largest single value read and never past the limit given to
// NewReader.
//
// A slice a Reader returns is valid until its next call.
type Reader struct {
	r    io.Reader
	buf  []byte
	pos  int   // next unread byte of buf
	off  int64 // stream offset of buf[0]
	max  int
	eof  bool
	rerr error // the read error other than EOF, once seen
	// stack holds the open containers ('{' or '['), and first whether
	// the next member is the first of its container.
	stack []byte
	first bool
	key   []byte // scratch for escaped keys
	doc   doc    // the last value Doc read
}

// NewReader reads from r; no single value may exceed max bytes.
func NewReader(r io.Reader, max int) *Reader {
	return &Reader{r: r, buf: make([]byte, 0, min(max+1, 64<<10)), max: max}
}

// Offset is how many bytes of the stream have been consumed.
func (r *Reader) Offset() int64 { return r.off + int64(r.pos) }

// fill reads more of the stream, keeping buf[r.pos:]. It reports false
// at the end of the stream.
func (r *Reader) fill() (bool, error) {
	if r.rerr != nil {
		return false, r.rerr
	}
	if r.eof {
		return false, nil
	}
	if r.pos > 0 {
		n := copy(r.buf, r.buf[r.pos:])
		r.buf = r.buf[:n]
		r.off += int64(r.pos)
		r.pos = 0
	}
	if len(r.buf) == cap(r.buf) {
		if len(r.buf) > r.max {
			return false, fmt.Errorf("%w (%d bytes) at byte %d", ErrTooLarge, r.max, r.off)
		}
		grown := make([]byte, len(r.buf), min(2*cap(r.buf), r.max+1))
		copy(grown, r.buf)
		r.buf = grown
	}
	n, err := r.r.Read(r.buf[len(r.buf):cap(r.buf)])
	r.buf = r.buf[:len(r.buf)+n]
	switch {
	case errors.Is(err, io.EOF):
		r.eof = true
	case err != nil:
		r.rerr = err
		if n == 0 {
			return false, err
		}
	}
	return true, nil
}

// peek skips whitespace and returns the next byte without consuming it;
// ok is false at the end of the stream.
func (r *Reader) peek() (byte, bool, error) {
	for {
		r.pos = skipSpace(r.buf, r.pos)
		if r.pos < len(r.buf) {
			return r.buf[r.pos], true, nil
		}
		more, err := r.fill()
		if err != nil {
			return 0, false, err
		}
		if !more {
			return 0, false, nil
		}
	}
}

func (r *Reader) syntax(msg string, args ...any) error {
	return &SyntaxError{Offset: r.Offset(), Msg: fmt.Sprintf(msg, args...)}
}

// unexpected is the error of a byte that is not what the grammar allows,
// or of an early end.
func (r *Reader) unexpected(c byte, ok bool, want string) error {
	if !ok {
		return fmt.Errorf("looking for %s at byte %d: %w", want, r.Offset(), io.ErrUnexpectedEOF)
	}
	return r.syntax("invalid character %s looking for %s", quoteChar(c), want)
}

// Enter consumes the opening delimiter of an object ('{') or an array
// ('['), as the next value of the current container.
func (r *Reader) Enter(delim byte) error {
	c, ok, err := r.peek()
	if err != nil {
		return err
	}
	if !ok || c != delim {
		return r.unexpected(c, ok, fmt.Sprintf("%q", delim))
	}
	if len(r.stack) >= maxDepth {
		return r.syntax("nesting deeper than %d", maxDepth)
	}
	r.pos++
	r.stack = append(r.stack, delim)
	r.first = true
	return nil
}

// More reports whether the open container has another member, consuming
// the comma before it; at the container's end it consumes the closing
// delimiter and reports false.
func (r *Reader) More() (bool, error) {
	if len(r.stack) == 0 {
		return false, errors.New("jsonscan: More outside an object or array")
	}
	open := r.stack[len(r.stack)-1]
	closing := byte(']')
	if open == '{' {
		closing = '}'
	}
	c, ok, err := r.peek()
	if err != nil {
		return false, err
	}
	if ok && c == closing {
		r.pos++
		r.stack = r.stack[:len(r.stack)-1]
		r.first = false
		return false, nil
	}
	if !r.first {
		if !ok || c != ',' {
			return false, r.unexpected(c, ok, fmt.Sprintf("',' or %q", closing))
		}
		r.pos++
		if c, ok, err = r.peek(); err != nil {
			return false, err
		}
	}
	if !ok {
		return false, r.unexpected(c, ok, "a value")
	}
	r.first = false
	return true, nil
}

// Key reads an object member's key and its colon, after More reported
// true. The key is unescaped.
func (r *Reader) Key() ([]byte, error) {
	if len(r.stack) == 0 || r.stack[len(r.stack)-1] != '{' {
		return nil, errors.New("jsonscan: Key outside an object")
	}
	c, ok, err := r.peek()
	if err != nil {
		return nil, err
	}
	if !ok || c != '"' {
		return nil, r.unexpected(c, ok, "an object key")
	}
	raw, err := r.Value()
	if err != nil {
		return nil, err
	}
	// Copied before peek, which may move the buffer under raw.
	t := Text(raw, r.key[:0])
	r.key = append(r.key[:0], t...)
	if c, ok, err = r.peek(); err != nil {
		return nil, err
	}
	if !ok || c != ':' {
		return nil, r.unexpected(c, ok, "':' after an object key")
	}
	r.pos++
	return r.key, nil
}

// Value reads the next value whole and returns its raw bytes, checked.
func (r *Reader) Value() ([]byte, error) {
	return r.read(nil)
}

// Doc reads the next value whole and returns it with its tape, for a
// walk over its members that reads each byte once.
func (r *Reader) Doc() (Value, error) {
	raw, err := r.read(&r.doc.tape)
	if err != nil {
		return Value{}, err
	}
	r.doc.raw = raw
	v, _, err := r.doc.at(0, 0)
	return v, err
}

func (r *Reader) read(tape *[]token) ([]byte, error) {
	c, ok, err := r.peek()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, r.unexpected(c, ok, "a value")
	}
	for {
		if tape != nil {
			*tape = (*tape)[:0]
		}
		s := scanner{buf: r.buf[r.pos:], final: r.eof, tape: tape}
		end, err := s.value(0)
		if err == nil {
			raw := r.buf[r.pos : r.pos+end]
			r.pos += end
			return raw, nil
		}
		if err == errShort && s.final {
			return nil, fmt.Errorf("a value cut short at byte %d: %w", r.Offset()+int64(len(r.buf)-r.pos), io.ErrUnexpectedEOF)
		}
		if err != errShort {
			var se *SyntaxError
			if errors.As(err, &se) {
				se.Offset += r.Offset()
			}
			return nil, err
		}
		// Read at least as much again before scanning anew, so a value
		// is scanned O(log size) times however the stream is cut.
		need := 2 * (len(r.buf) - r.pos)
		for len(r.buf)-r.pos < need {
			more, ferr := r.fill()
			if ferr != nil {
				return nil, ferr
			}
			if !more {
				break
			}
		}
	}
}

// Peek returns the kind of the next value without reading it.
func (r *Reader) Peek() (Kind, error) {
	c, ok, err := r.peek()
	if err != nil {
		return Invalid, err
	}
	if !ok {
		return Invalid, r.unexpected(c, ok, "a value")
	}
	return KindOf([]byte{c}), nil
}

// Skip reads past the next value.
func (r *Reader) Skip() error {
	_, err := r.Value()
	return err
}

// Depth is how many containers are open.
func (r *Reader) Depth() int { return len(r.stack) }

// End checks that nothing but whitespace follows.
func (r *Reader) End() error {
	c, ok, err := r.peek()
	if err != nil {
		return err
	}
	if ok {
		return r.syntax("invalid character %s after the answer", quoteChar(c))
	}
	return nil
}
