package pendotest

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// expr is a parsed filter expression: Pendo's C-like language of field
// paths, literals, comparisons, !, && and ||.
type expr interface {
	eval(row map[string]any) any
}

type (
	literal struct{ v any }
	field   struct{ path string }
	not     struct{ e expr }
	binary  struct {
		op   string
		l, r expr
	}
)

func (l literal) eval(map[string]any) any { return l.v }
func (f field) eval(r map[string]any) any { return normalize(lookup(r, f.path)) }
func (n not) eval(r map[string]any) any   { return !truthy(n.e.eval(r)) }
func (b binary) eval(r map[string]any) any {
	switch b.op {
	case "&&":
		return truthy(b.l.eval(r)) && truthy(b.r.eval(r))
	case "||":
		return truthy(b.l.eval(r)) || truthy(b.r.eval(r))
	}
	l, rv := b.l.eval(r), b.r.eval(r)
	if l == nil || rv == nil {
		// Comparisons with a missing value are false, except != and ==
		// between two values of which one is missing.
		switch b.op {
		case "==":
			return l == nil && rv == nil
		case "!=":
			return (l == nil) != (rv == nil)
		}
		return false
	}
	c := compare(l, rv)
	switch b.op {
	case "==":
		return c == 0
	case "!=":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}

func normalize(v any) any {
	switch n := v.(type) {
	case json.Number:
		f, _ := n.Float64()
		return f
	case int:
		return float64(n)
	case int64:
		return float64(n)
	}
	return v
}

func truthy(v any) bool {
	switch t := v.(type) {
	case nil:
		return false
	case bool:
		return t
	case float64:
		return t != 0
	case string:
		return t != ""
	}
	return true
}

// compare orders values: nil < bool < number < string, then by value.
func compare(a, b any) int {
	a, b = normalize(a), normalize(b)
	rank := func(v any) int {
		switch v.(type) {
		case nil:
			return 0
		case bool:
			return 1
		case float64:
			return 2
		case string:
			return 3
		}
		return 4
	}
	if ra, rb := rank(a), rank(b); ra != rb {
		return ra - rb
	}
	switch x := a.(type) {
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case float64:
		y := b.(float64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	case string:
		return strings.Compare(x, b.(string))
	}
	return 0
}

// parseExpr parses a filter expression.
func parseExpr(src string) (expr, error) {
	p := &parser{src: src}
	p.next()
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.tok != "" {
		return nil, fmt.Errorf("unexpected %q at offset %d", p.tok, p.pos)
	}
	return e, nil
}

type parser struct {
	src  string
	pos  int
	tok  string // current token text; "" at end
	kind byte   // 's' string, 'n' number, 'i' identifier, 'o' operator
	val  any
	err  error
}

func (p *parser) next() {
	for p.pos < len(p.src) && unicode.IsSpace(rune(p.src[p.pos])) {
		p.pos++
	}
	if p.pos >= len(p.src) {
		p.tok, p.kind = "", 0
		return
	}
	start := p.pos
	c := p.src[p.pos]
	switch {
	case c == '"' || c == '`':
		quote := c
		var b strings.Builder
		p.pos++
		for {
			if p.pos >= len(p.src) {
				p.err = fmt.Errorf("unterminated string at offset %d", start)
				p.tok, p.kind = "", 0
				return
			}
			ch := p.src[p.pos]
			if ch == '\\' && quote == '"' && p.pos+1 < len(p.src) {
				b.WriteByte(p.src[p.pos+1])
				p.pos += 2
				continue
			}
			p.pos++
			if ch == quote {
				break
			}
			b.WriteByte(ch)
		}
		p.tok, p.kind, p.val = p.src[start:p.pos], 's', b.String()
	case c >= '0' && c <= '9' || c == '-' && p.pos+1 < len(p.src) && p.src[p.pos+1] >= '0' && p.src[p.pos+1] <= '9':
		p.pos++
		for p.pos < len(p.src) && (p.src[p.pos] >= '0' && p.src[p.pos] <= '9' || p.src[p.pos] == '.') {
			p.pos++
		}
		f, err := strconv.ParseFloat(p.src[start:p.pos], 64)
		if err != nil {
			p.err = fmt.Errorf("bad number %q", p.src[start:p.pos])
		}
		p.tok, p.kind, p.val = p.src[start:p.pos], 'n', f
	case unicode.IsLetter(rune(c)) || c == '_':
		for p.pos < len(p.src) && (unicode.IsLetter(rune(p.src[p.pos])) || unicode.IsDigit(rune(p.src[p.pos])) || strings.IndexByte("_.", p.src[p.pos]) >= 0) {
			p.pos++
		}
		p.tok, p.kind = p.src[start:p.pos], 'i'
	default:
		for _, op := range []string{"&&", "||", "==", "!=", "<=", ">=", "<", ">", "!", "(", ")"} {
			if strings.HasPrefix(p.src[p.pos:], op) {
				p.pos += len(op)
				p.tok, p.kind = op, 'o'
				return
			}
		}
		p.err = fmt.Errorf("unexpected character %q at offset %d", c, p.pos)
		p.tok, p.kind = "", 0
	}
}

func (p *parser) or() (expr, error) {
	l, err := p.and()
	for err == nil && p.tok == "||" {
		p.next()
		var r expr
		if r, err = p.and(); err == nil {
			l = binary{"||", l, r}
		}
	}
	return l, err
}

func (p *parser) and() (expr, error) {
	l, err := p.cmp()
	for err == nil && p.tok == "&&" {
		p.next()
		var r expr
		if r, err = p.cmp(); err == nil {
			l = binary{"&&", l, r}
		}
	}
	return l, err
}

func (p *parser) cmp() (expr, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	switch p.tok {
	case "==", "!=", "<", "<=", ">", ">=":
		op := p.tok
		p.next()
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		return binary{op, l, r}, nil
	}
	return l, nil
}

func (p *parser) unary() (expr, error) {
	if p.err != nil {
		return nil, p.err
	}
	switch {
	case p.tok == "!":
		p.next()
		e, err := p.unary()
		return not{e}, err
	case p.tok == "(":
		p.next()
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.tok != ")" {
			return nil, fmt.Errorf("missing ) at offset %d", p.pos)
		}
		p.next()
		return e, nil
	case p.kind == 's' || p.kind == 'n':
		v := p.val
		p.next()
		return literal{v}, p.err
	case p.kind == 'i':
		name := p.tok
		p.next()
		switch name {
		case "true":
			return literal{true}, p.err
		case "false":
			return literal{false}, p.err
		case "null":
			return literal{nil}, p.err
		}
		if p.tok == "(" {
			return nil, fmt.Errorf("function %s() is not supported by this emulator", name)
		}
		return field{name}, p.err
	case p.tok == "":
		return nil, fmt.Errorf("unexpected end of expression")
	}
	return nil, fmt.Errorf("unexpected %q at offset %d", p.tok, p.pos)
}
