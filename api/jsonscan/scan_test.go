package jsonscan_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/backflow-dev/backflow/api/jsonscan"
)

// cases are held to encoding/json's verdict: valid or not.
var cases = []struct {
	name, in string
}{
	{"empty object", `{}`},
	{"empty array", `[]`},
	{"nested", `{"a":[1,{"b":null},"c"],"d":{"e":true,"f":false}}`},
	{"whitespace", " \t\n{ \"a\" : [ 1 , 2 ] } \r\n"},
	{"numbers", `[0,-0,1,-1,10,1.5,-1.5e10,1E+2,1e-2,0.0,123456789012345678901234567890]`},
	{"escapes", `["\"\\\/\b\f\n\r\t","\u00e9\u20AC","\ud83d\ude00","\ud83d","\ude00x"]`},
	{"utf8", `["héllo","日本","😀"]`},
	{"invalid utf8 kept", "[\"a\xffb\"]"},
	{"leading zero", `[01]`},
	{"bare minus", `[-]`},
	{"dot without digits", `[1.]`},
	{"leading dot", `[.5]`},
	{"exponent without digits", `[1e]`},
	{"plus sign", `[+1]`},
	{"trailing comma array", `[1,]`},
	{"trailing comma object", `{"a":1,}`},
	{"missing colon", `{"a" 1}`},
	{"missing comma", `[1 2]`},
	{"single quotes", `['a']`},
	{"unquoted key", `{a:1}`},
	{"control char in string", "[\"a\tb\"]"},
	{"bad escape", `["\x"]`},
	{"short unicode escape", `["\u12"]`},
	{"bad literal", `[tru]`},
	{"capital literal", `[True]`},
	{"unterminated string", `["abc`},
	{"unterminated array", `[1,2`},
	{"unterminated object", `{"a":1`},
	{"two values", `{} {}`},
	{"nothing", ``},
	{"only space", `   `},
	{"bare number", `42`},
	{"bare string", `"x"`},
	{"NaN", `[NaN]`},
	{"close mismatch", `[1}`},
}

func TestValidAgreesWithEncodingJSON(t *testing.T) {
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			want := json.Valid([]byte(tt.in))
			err := jsonscan.Valid([]byte(tt.in))
			if (err == nil) != want {
				t.Fatalf("Valid(%q) = %v, encoding/json says valid=%v", tt.in, err, want)
			}
		})
	}
}

// TestReaderAgreesWithEncodingJSON reads each case one byte at a time, so
// every value straddles reads.
func TestReaderAgreesWithEncodingJSON(t *testing.T) {
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			want := json.Valid([]byte(tt.in))
			r := jsonscan.NewReader(iotest.OneByteReader(strings.NewReader(tt.in)), 1<<20)
			raw, err := r.Value()
			raw = bytes.Clone(raw) // End may move the buffer under it
			if err == nil {
				err = r.End()
			}
			if (err == nil) != want {
				t.Fatalf("reading %q: %v, encoding/json says valid=%v", tt.in, err, want)
			}
			if err == nil && !bytes.Equal(raw, bytes.TrimSpace([]byte(tt.in))) {
				t.Fatalf("raw %q, want %q", raw, strings.TrimSpace(tt.in))
			}
		})
	}
}

func TestTextAgreesWithEncodingJSON(t *testing.T) {
	for _, in := range []string{`""`, `"plain"`, `"a\"b"`, `"\u00e9"`, `"\ud83d\ude00"`, `"\ud83d"`, `"\ude00"`, `"\ud83dx"`, "\"a\xffb\"", "\"\xe6\x97\xa5\"", `"\/\b\f\n\r\t\\"`, "\"\xed\xa0\x80\""} {
		var want string
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			t.Fatalf("encoding/json refused %q: %v", in, err)
		}
		if got := string(jsonscan.Text([]byte(in), nil)); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMembersAndElements(t *testing.T) {
	raw := []byte(`{ "a" : 1 , "b\u0021":[true, "x" ,{"c":null}], "d":"e\"" ,"f":-2.5e3}`)
	var keys, vals []string
	err := jsonscan.Members(raw, func(k, v []byte) error {
		keys = append(keys, string(k))
		vals = append(vals, string(v))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(keys, "|"), "a|b!|d|f"; got != want {
		t.Errorf("keys %s, want %s", got, want)
	}
	if got, want := strings.Join(vals, "|"), `1|[true, "x" ,{"c":null}]|"e\""|-2.5e3`; got != want {
		t.Errorf("values %s, want %s", got, want)
	}
	var elems []string
	if err := jsonscan.Elements([]byte(vals[1]), func(v []byte) error { elems = append(elems, string(v)); return nil }); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(elems, "|"), `true|"x"|{"c":null}`; got != want {
		t.Errorf("elements %s, want %s", got, want)
	}
	stop := errors.New("stop")
	if err := jsonscan.Members(raw, func(k, v []byte) error { return stop }); err != stop {
		t.Errorf("fn's error: got %v", err)
	}
	if err := jsonscan.Members([]byte(`[1]`), func(k, v []byte) error { return nil }); err == nil {
		t.Error("Members of an array: no error")
	}
}

// TestEnvelope walks an answer's envelope and its rows, one byte per read.
func TestEnvelope(t *testing.T) {
	in := `{"startTime": 1, "results": [{"id":"a"}, {"id":"b"}], "paging": {"next": {"after": "2"}}}`
	r := jsonscan.NewReader(iotest.OneByteReader(strings.NewReader(in)), 1<<10)
	if err := r.Enter('{'); err != nil {
		t.Fatal(err)
	}
	var rows, after []string
	for {
		more, err := r.More()
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			break
		}
		key, err := r.Key()
		if err != nil {
			t.Fatal(err)
		}
		switch string(key) {
		case "results":
			if err := r.Enter('['); err != nil {
				t.Fatal(err)
			}
			for {
				more, err := r.More()
				if err != nil {
					t.Fatal(err)
				}
				if !more {
					break
				}
				raw, err := r.Value()
				if err != nil {
					t.Fatal(err)
				}
				rows = append(rows, string(raw))
			}
		case "paging":
			raw, err := r.Value()
			if err != nil {
				t.Fatal(err)
			}
			after = append(after, string(raw))
		default:
			if err := r.Skip(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := r.End(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rows, ","); got != `{"id":"a"},{"id":"b"}` {
		t.Errorf("rows %s", got)
	}
	if len(after) != 1 || after[0] != `{"next": {"after": "2"}}` {
		t.Errorf("paging %v", after)
	}
}

func TestReaderErrors(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     error
	}{
		{"cut between rows", `[{"a":1},`, 1 << 10, io.ErrUnexpectedEOF},
		{"cut inside a row", `[{"a":1},{"b":`, 1 << 10, io.ErrUnexpectedEOF},
		{"row over the limit", `[{"a":"` + strings.Repeat("x", 300) + `"}]`, 100, jsonscan.ErrTooLarge},
		{"missing comma", `[{"a":1} {"b":2}]`, 1 << 10, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := jsonscan.NewReader(iotest.HalfReader(strings.NewReader(tt.in)), tt.max)
			err := r.Enter('[')
			for err == nil {
				var more bool
				if more, err = r.More(); err == nil && !more {
					break
				}
				if err == nil {
					_, err = r.Value()
				}
			}
			if err == nil {
				t.Fatal("no error")
			}
			var se *jsonscan.SyntaxError
			if tt.want == nil && !errors.As(err, &se) {
				t.Fatalf("got %v, want a syntax error", err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// FuzzAgreesWithEncodingJSON: on any input, the verdict and the string
// contents are encoding/json's.
func FuzzAgreesWithEncodingJSON(f *testing.F) {
	for _, tt := range cases {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		want := json.Valid(in)
		if err := jsonscan.Valid(in); (err == nil) != want {
			t.Fatalf("Valid(%q) = %v, encoding/json valid=%v", in, err, want)
		}
		r := jsonscan.NewReader(iotest.OneByteReader(bytes.NewReader(in)), 1<<20)
		raw, err := r.Value()
		raw = bytes.Clone(raw) // End may move the buffer under it
		if err == nil {
			err = r.End()
		}
		if (err == nil) != want {
			t.Fatalf("Reader on %q: %v, encoding/json valid=%v", in, err, want)
		}
		if !want {
			return
		}
		v, err := decodeAny(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := rebuild(t, raw); !equal(got, v) {
			t.Fatalf("rebuilt %#v, encoding/json %#v", got, v)
		}
		pv, err := jsonscan.Parse(in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if got := rebuildValue(t, pv); !equal(got, v) {
			t.Fatalf("rebuilt from Parse %#v, encoding/json %#v", got, v)
		}
		r = jsonscan.NewReader(iotest.OneByteReader(bytes.NewReader(in)), 1<<20)
		dv, err := r.Doc()
		if err != nil {
			t.Fatalf("Doc(%q): %v", in, err)
		}
		if got := rebuildValue(t, dv); !equal(got, v) {
			t.Fatalf("rebuilt from Doc %#v, encoding/json %#v", got, v)
		}
	})
}

// rebuildValue decodes a Value through its tape.
func rebuildValue(t *testing.T, v jsonscan.Value) any {
	switch v.Kind() {
	case jsonscan.Object:
		m := map[string]any{}
		if err := v.Members(func(k []byte, e jsonscan.Value) error { m[string(k)] = rebuildValue(t, e); return nil }); err != nil {
			t.Fatal(err)
		}
		return m
	case jsonscan.Array:
		a := []any{}
		if err := v.Elements(func(e jsonscan.Value) error { a = append(a, rebuildValue(t, e)); return nil }); err != nil {
			t.Fatal(err)
		}
		return a
	case jsonscan.String:
		return string(v.Text(nil))
	}
	x, err := decodeAny(v.Raw())
	if err != nil {
		t.Fatalf("scalar %q: %v", v.Raw(), err)
	}
	return x
}

// TestValueWalk walks the valid cases through Parse and through a Reader's
// Doc read one byte at a time, against encoding/json.
func TestValueWalk(t *testing.T) {
	for _, tt := range cases {
		if !json.Valid([]byte(tt.in)) {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			want, err := decodeAny([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			pv, err := jsonscan.Parse([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := rebuildValue(t, pv); !equal(got, want) {
				t.Fatalf("Parse: %#v, want %#v", got, want)
			}
			r := jsonscan.NewReader(iotest.OneByteReader(strings.NewReader(tt.in)), 1<<20)
			dv, err := r.Doc()
			if err != nil {
				t.Fatal(err)
			}
			if got := rebuildValue(t, dv); !equal(got, want) {
				t.Fatalf("Doc: %#v, want %#v", got, want)
			}
		})
	}
}

// rebuild decodes raw through Members, Elements and Text.
func rebuild(t *testing.T, raw []byte) any {
	switch jsonscan.KindOf(raw) {
	case jsonscan.Object:
		m := map[string]any{}
		if err := jsonscan.Members(raw, func(k, v []byte) error { m[string(k)] = rebuild(t, v); return nil }); err != nil {
			t.Fatal(err)
		}
		return m
	case jsonscan.Array:
		a := []any{}
		if err := jsonscan.Elements(raw, func(v []byte) error { a = append(a, rebuild(t, v)); return nil }); err != nil {
			t.Fatal(err)
		}
		return a
	case jsonscan.String:
		return string(jsonscan.Text(raw, nil))
	}
	v, err := decodeAny(raw)
	if err != nil {
		t.Fatalf("scalar %q: %v", raw, err)
	}
	return v
}

// decodeAny is encoding/json's reading, numbers kept as their text (1E700
// is valid JSON and no float64).
func decodeAny(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

func equal(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// TestLongStrings puts every byte value at every position of an 8-byte
// block, so the eight-at-a-time path and the byte path agree.
func TestLongStrings(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 17; pos++ {
			body := []byte(strings.Repeat("a", 17))
			body[pos] = byte(c)
			in := append(append([]byte(`"`), body...), '"')
			want := json.Valid(in)
			if err := jsonscan.Valid(in); (err == nil) != want {
				t.Fatalf("byte 0x%02x at %d: Valid %v, encoding/json valid=%v", c, pos, err, want)
			}
			if !want {
				continue
			}
			var s string
			json.Unmarshal(in, &s)
			if got := string(jsonscan.Text(in, nil)); got != s {
				t.Fatalf("byte 0x%02x at %d: Text %q, want %q", c, pos, got, s)
			}
		}
	}
}
