package pendotest

import (
	"encoding/json"
	"testing"
	"time"
)

func TestExpr(t *testing.T) {
	now := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)
	loc, _ := time.LoadLocation("America/New_York")
	if loc == nil {
		loc = time.UTC
	}
	r := row{"visitorId": `a"b\c`, "n": json.Number("7"), "metadata": map[string]any{"auto": map[string]any{"lastupdated": int64(1000)}},
		"polls": []any{map[string]any{"id": "p1"}, map[string]any{"id": "p2"}}, "empty": ""}
	e := &env{row: r, now: now, loc: loc}
	tests := []struct {
		src  string
		want any
	}{
		{`n + 1 * 2`, 9.0},
		{`(n + 1) * 2`, 16.0},
		{`-n + 10`, 3.0},
		{`n / 2`, 3.5},
		{`n > 5 && n < 8`, true},
		{`n > 7 || visitorId == "a\"b\\c"`, true},
		{`!(n == 7)`, false},
		{"visitorId == `a\"b\\c`", true}, // backticks take no escapes
		{`polls[1].id`, "p2"},
		{`polls[5].id`, nil},
		{`metadata.auto.lastupdated >= 1000`, true},
		{`missing > 1`, false},
		{`missing == null`, true},
		{`empty == ""`, true},
		{`now()`, float64(now.UnixMilli())},
		{`now() - 24 * 60 * 60 * 1000`, float64(now.Add(-24 * time.Hour).UnixMilli())},
		{`date(2026, 1, 2)`, float64(time.Date(2026, 1, 2, 0, 0, 0, 0, loc).UnixMilli())},
		{`startOfPeriod(now(), "day")`, float64(time.Date(2026, 11, 20, 0, 0, 0, 0, loc).UnixMilli())},
		{`dateAdd(date(2026, 1, 31), 1, "month")`, float64(time.Date(2026, 3, 3, 0, 0, 0, 0, loc).UnixMilli())},
		{`hash("x") == hash("x")`, true},
	}
	for _, tt := range tests {
		x, err := parseExpr(tt.src)
		if err != nil {
			t.Errorf("%s: %v", tt.src, err)
			continue
		}
		if got := x.eval(e); got != tt.want {
			t.Errorf("%s = %#v, want %#v", tt.src, got, tt.want)
		}
	}
	for _, bad := range []string{`visitorId > "unterminated`, `n >`, `(n`, `nosuch(1)`, `now(1)`, `n $ 1`, `a[1`} {
		if _, err := parseExpr(bad); err == nil {
			t.Errorf("%s parsed", bad)
		}
	}
}

func TestOperators(t *testing.T) {
	rows := func() []row {
		return []row{
			{"v": "a", "acct": "x", "n": 1.0}, {"v": "b", "acct": "x", "n": 2.0}, {"v": "a", "acct": "y", "n": 4.0}, {"v": "c", "acct": "y"},
		}
	}
	e := &env{now: time.Now(), loc: time.UTC}
	run := func(step string) []row {
		t.Helper()
		o, err := oneOp(json.RawMessage(step))
		if err != nil {
			t.Fatal(err)
		}
		out, err := applyStep(rows(), o, e)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		return out
	}
	g := run(`{"group": {"group": ["acct"], "fields": {"total": {"sum": "n"}, "visitors": {"count": "v"}, "top": {"max": "n"}}}}`)
	if len(g) != 2 || g[0]["acct"] != "x" || g[0]["total"] != 3.0 || g[0]["visitors"] != 2 || g[1]["top"] != 4.0 {
		t.Errorf("group = %v", g)
	}
	r := run(`{"reduce": [{"visitors": {"count": "v"}}, {"avg": {"avg": "n"}}]}`)
	if len(r) != 1 || r[0]["visitors"] != 3 || r[0]["avg"] != 7.0/3 {
		t.Errorf("reduce = %v", r)
	}
	j := run(`{"join": {"fields": ["v"], "width": 2}}`)
	if len(j) != 3 || j[0]["v"] != "a" || j[0]["acct"] != "x" {
		t.Errorf("join = %v", j)
	}
	if c := run(`{"count": null}`); c[0]["count"] != 4 {
		t.Errorf("count = %v", c)
	}
	s := run(`{"sort": ["-n", "v"]}`)
	if s[0]["n"] != 4.0 || s[3]["v"] != "c" {
		t.Errorf("sort = %v", s)
	}
	if _, err := applyStep(rows(), op{"unwind", json.RawMessage(`{}`)}, e); err == nil {
		t.Error("an unsupported operator was accepted")
	}
}
