package pendotest

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// expr is a parsed expression of Pendo's C-like language (filters, eval,
// timeSeries bounds): field paths (with [n] indexes), string and number
// literals, arithmetic, comparisons, !, && and ||, and the functions now(),
// hash(x), date(y, m, d), dateAdd(t, n, unit) and startOfPeriod(t, unit).
type expr interface {
	eval(env *env) any
}

// env is what an expression is evaluated against.
type env struct {
	row map[string]any
	now time.Time
	loc *time.Location // the subscription's time zone
	// member reports whether a visitor is in a segment (ok false: no
	// such segment), for the segment step.
	member func(segmentID, visitorID string) (in, ok bool)
}

type (
	literal struct{ v any }
	field   struct{ path string }
	not     struct{ e expr }
	neg     struct{ e expr }
	binary  struct {
		op   string
		l, r expr
	}
	callExpr struct {
		name string
		args []expr
	}
)

func (l literal) eval(*env) any { return l.v }
func (f field) eval(e *env) any { return normalize(lookup(e.row, f.path)) }
func (n not) eval(e *env) any   { return !truthy(n.e.eval(e)) }
func (n neg) eval(e *env) any {
	if f, ok := n.e.eval(e).(float64); ok {
		return -f
	}
	return nil
}

func (b binary) eval(e *env) any {
	switch b.op {
	case "&&":
		return truthy(b.l.eval(e)) && truthy(b.r.eval(e))
	case "||":
		return truthy(b.l.eval(e)) || truthy(b.r.eval(e))
	}
	l, r := b.l.eval(e), b.r.eval(e)
	switch b.op {
	case "+", "-", "*", "/":
		x, ok1 := l.(float64)
		y, ok2 := r.(float64)
		if !ok1 || !ok2 {
			if b.op == "+" {
				if xs, ok := l.(string); ok {
					return xs + fmt.Sprint(r)
				}
			}
			return nil
		}
		switch b.op {
		case "+":
			return x + y
		case "-":
			return x - y
		case "*":
			return x * y
		}
		if y == 0 {
			return nil
		}
		return x / y
	}
	if l == nil || r == nil {
		// Comparisons with a missing value are false, except == and !=
		// between a missing value and another.
		switch b.op {
		case "==":
			return l == nil && r == nil
		case "!=":
			return (l == nil) != (r == nil)
		}
		return false
	}
	c := compare(l, r)
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

func (c callExpr) eval(e *env) any {
	args := make([]any, len(c.args))
	for i, a := range c.args {
		args[i] = a.eval(e)
	}
	num := func(i int) (float64, bool) {
		if i >= len(args) {
			return 0, false
		}
		f, ok := args[i].(float64)
		return f, ok
	}
	str := func(i int) string {
		if i >= len(args) {
			return ""
		}
		s, _ := args[i].(string)
		return s
	}
	switch c.name {
	case "now":
		return float64(e.now.UnixMilli())
	case "hash":
		h := fnv.New32a()
		h.Write([]byte(fmt.Sprint(args[0])))
		return float64(h.Sum32())
	case "date":
		y, ok1 := num(0)
		m, ok2 := num(1)
		d, ok3 := num(2)
		if !ok1 || !ok2 || !ok3 {
			return nil
		}
		return float64(time.Date(int(y), time.Month(int(m)), int(d), 0, 0, 0, 0, e.loc).UnixMilli())
	case "dateAdd", "date_add":
		t, ok1 := num(0)
		n, ok2 := num(1)
		if !ok1 || !ok2 {
			return nil
		}
		base := time.UnixMilli(int64(t)).In(e.loc)
		switch strings.TrimSuffix(str(2), "s") {
		case "day":
			return float64(base.AddDate(0, 0, int(n)).UnixMilli())
		case "week":
			return float64(base.AddDate(0, 0, 7*int(n)).UnixMilli())
		case "month":
			return float64(base.AddDate(0, int(n), 0).UnixMilli())
		case "hour":
			return float64(base.Add(time.Duration(n) * time.Hour).UnixMilli())
		}
		return nil
	case "startOfPeriod":
		t, ok := num(0)
		if !ok {
			return nil
		}
		return float64(startOf(time.UnixMilli(int64(t)).In(e.loc), str(1)).UnixMilli())
	}
	return nil
}

// startOf truncates t to the start of its hour, day, week (Sunday) or
// month, in t's location.
func startOf(t time.Time, unit string) time.Time {
	switch unit {
	case "hour", "hourly":
		// Counted back from t: rebuilding it from the wall clock is
		// ambiguous in the repeated hour of a DST switch.
		return t.Add(-time.Duration(t.Minute())*time.Minute - time.Duration(t.Second())*time.Second - time.Duration(t.Nanosecond()))
	case "week", "weekly":
		d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
		return d.AddDate(0, 0, -int(d.Weekday()))
	case "month", "monthly":
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, t.Location())
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
}

var functions = map[string]int{"now": 0, "hash": 1, "date": 3, "dateAdd": 3, "date_add": 3, "startOfPeriod": 2}

func normalize(v any) any {
	switch n := v.(type) {
	case json.Number:
		f, _ := n.Float64()
		return f
	case int:
		return float64(n)
	case int64:
		return float64(n)
	case float32:
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
		return t != 0 && !math.IsNaN(t)
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

// parseExpr parses an expression.
func parseExpr(src string) (expr, error) {
	p := &parser{src: src}
	p.next()
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.err != nil {
		return nil, p.err
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
	case c == '"' || c == '`' || c == '\'':
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
			if ch == '\\' && quote != '`' && p.pos+1 < len(p.src) {
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
	case c >= '0' && c <= '9':
		for p.pos < len(p.src) && (p.src[p.pos] >= '0' && p.src[p.pos] <= '9' || p.src[p.pos] == '.') {
			p.pos++
		}
		f, err := strconv.ParseFloat(p.src[start:p.pos], 64)
		if err != nil {
			p.err = fmt.Errorf("bad number %q", p.src[start:p.pos])
		}
		p.tok, p.kind, p.val = p.src[start:p.pos], 'n', f
	case unicode.IsLetter(rune(c)) || c == '_':
		for p.pos < len(p.src) {
			ch := p.src[p.pos]
			if unicode.IsLetter(rune(ch)) || unicode.IsDigit(rune(ch)) || ch == '_' || ch == '.' {
				p.pos++
				continue
			}
			if ch == '[' { // an index: polls[0].id
				end := strings.IndexByte(p.src[p.pos:], ']')
				if end < 0 {
					p.err = fmt.Errorf("missing ] at offset %d", p.pos)
					return
				}
				p.pos += end + 1
				continue
			}
			break
		}
		p.tok, p.kind = p.src[start:p.pos], 'i'
	default:
		for _, op := range []string{"&&", "||", "==", "!=", "<=", ">=", "<", ">", "!", "(", ")", "+", "-", "*", "/", ","} {
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
	l, err := p.sum()
	if err != nil {
		return nil, err
	}
	switch p.tok {
	case "==", "!=", "<", "<=", ">", ">=":
		op := p.tok
		p.next()
		r, err := p.sum()
		if err != nil {
			return nil, err
		}
		return binary{op, l, r}, nil
	}
	return l, nil
}

func (p *parser) sum() (expr, error) {
	l, err := p.product()
	for err == nil && (p.tok == "+" || p.tok == "-") {
		op := p.tok
		p.next()
		var r expr
		if r, err = p.product(); err == nil {
			l = binary{op, l, r}
		}
	}
	return l, err
}

func (p *parser) product() (expr, error) {
	l, err := p.unary()
	for err == nil && (p.tok == "*" || p.tok == "/") {
		op := p.tok
		p.next()
		var r expr
		if r, err = p.unary(); err == nil {
			l = binary{op, l, r}
		}
	}
	return l, err
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
	case p.tok == "-":
		p.next()
		e, err := p.unary()
		return neg{e}, err
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
		if p.tok != "(" {
			return field{name}, p.err
		}
		arity, ok := functions[name]
		if !ok {
			return nil, fmt.Errorf("unknown function %s()", name)
		}
		p.next()
		var args []expr
		for p.tok != ")" {
			a, err := p.or()
			if err != nil {
				return nil, err
			}
			args = append(args, a)
			if p.tok == "," {
				p.next()
			} else if p.tok != ")" {
				return nil, fmt.Errorf("expected , or ) in the arguments of %s() at offset %d", name, p.pos)
			}
		}
		p.next()
		if len(args) != arity {
			return nil, fmt.Errorf("%s() takes %d arguments, got %d", name, arity, len(args))
		}
		return callExpr{name, args}, p.err
	case p.tok == "":
		return nil, fmt.Errorf("unexpected end of expression")
	}
	return nil, fmt.Errorf("unexpected %q at offset %d", p.tok, p.pos)
}
