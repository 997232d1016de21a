package pendotest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

type row = map[string]any

type aggregationRequest struct {
	Response struct {
		MimeType string `json:"mimeType"`
		Location string `json:"location"`
	} `json:"response"`
	Request struct {
		Name      string            `json:"name"`
		RequestID string            `json:"requestId"`
		Pipeline  []json.RawMessage `json:"pipeline"`
	} `json:"request"`
}

// Limits of one aggregation: Pendo stops calls at 5 minutes; the emulator
// refuses time series past a year of days or a month of hours instead.
const (
	maxDayPeriods  = 366
	maxHourPeriods = 31 * 24
)

// aggregate serves POST /api/v1/aggregation. A time series runs the rest of
// the pipeline once per period, as Pendo does, and the results are
// concatenated. Unknown sources and operators are refused with 400, never
// ignored: a silently skipped step would return rows nobody asked for.
func (s *Server) aggregate(w http.ResponseWriter, r *http.Request) {
	var req aggregationRequest
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		badRequest(w, "Bad Request: malformed JSON: "+err.Error())
		return
	}
	if mt := req.Response.MimeType; mt != "" && mt != "application/json" {
		badRequest(w, fmt.Sprintf("Bad Request: unsupported response mimeType %q", mt))
		return
	}
	if len(req.Request.Pipeline) == 0 {
		badRequest(w, "Bad Request: pipeline must begin with a source step")
		return
	}
	s.mu.Lock()
	e := &env{now: s.now(), loc: s.loc, member: func(seg, vid string) (bool, bool) {
		sg := s.segments[seg]
		return s.isMember(sg, vid), sg != nil
	}}
	rows, err := s.run(req.Request.Pipeline, e)
	s.mu.Unlock()
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	// Stream the rows, as Pendo's multi-gigabyte responses are streamed.
	w.Header().Set("Content-Type", "application/json")
	bw := bufio.NewWriterSize(w, 64<<10)
	fmt.Fprintf(bw, `{"startTime":%d,"results":[`, e.now.UnixMilli())
	enc := json.NewEncoder(bw)
	for i, row := range rows {
		if i > 0 {
			bw.WriteByte(',')
		}
		enc.Encode(row)
	}
	bw.WriteString("]}")
	bw.Flush()
}

// run executes a pipeline whose first step is a source or a spawn.
func (s *Server) run(steps []json.RawMessage, e *env) ([]row, error) {
	first, err := oneOp(steps[0])
	if err != nil {
		return nil, err
	}
	rest := steps[1:]
	switch first.name {
	case "spawn":
		var branches [][]json.RawMessage
		if err := json.Unmarshal(first.arg, &branches); err != nil || len(branches) == 0 {
			return nil, fmt.Errorf("Bad Request: spawn takes a list of pipelines")
		}
		var all []row
		for i, b := range branches {
			if len(b) == 0 {
				return nil, fmt.Errorf("Bad Request: spawn pipeline %d is empty", i)
			}
			rows, err := s.run(b, e)
			if err != nil {
				return nil, err
			}
			all = append(all, rows...)
		}
		return applySteps(all, rest, e)
	case "source":
	default:
		return nil, fmt.Errorf("Bad Request: pipeline must begin with a source step, not %q", first.name)
	}
	src, err := parseSource(first.arg, e)
	if err != nil {
		return nil, err
	}
	if src.periods == nil {
		rows, err := s.sourceRows(src, nil)
		if err != nil {
			return nil, err
		}
		return applySteps(rows, rest, e)
	}
	var out []row
	for _, p := range src.periods {
		rows, err := s.sourceRows(src, &p)
		if err != nil {
			return nil, err
		}
		rows, err = applySteps(rows, rest, e)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

type op struct {
	name string
	arg  json.RawMessage
}

func oneOp(raw json.RawMessage) (op, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || len(m) != 1 {
		return op{}, fmt.Errorf("Bad Request: each pipeline step must be an object with one operator")
	}
	for k, v := range m {
		return op{k, v}, nil
	}
	return op{}, nil
}

// period is one time bucket [start, end); unit is "day" or "hour".
type period struct {
	start, end time.Time
	unit       string
}

type source struct {
	name   string
	params map[string]json.RawMessage
	// periods is nil for sources without a time series.
	periods []period
}

var timeSources = map[string]bool{"events": true, "featureEvents": true, "pageEvents": true, "trackEvents": true, "guideEvents": true, "pollEvents": true}

func parseSource(raw json.RawMessage, e *env) (*source, error) {
	var spec map[string]json.RawMessage
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, fmt.Errorf("Bad Request: source is not an object")
	}
	src := &source{}
	for name, v := range spec {
		if name == "timeSeries" {
			continue
		}
		if src.name != "" {
			return nil, fmt.Errorf("Bad Request: source names two row sources, %s and %s", src.name, name)
		}
		switch name {
		case "visitors", "accounts", "features", "pages", "guides", "trackTypes", "pollsSeenEver",
			"events", "featureEvents", "pageEvents", "trackEvents", "guideEvents", "pollEvents":
		default:
			return nil, fmt.Errorf("Bad Request: unknown source %q", name)
		}
		src.name = name
		if len(v) > 0 && string(v) != "null" {
			if err := json.Unmarshal(v, &src.params); err != nil {
				return nil, fmt.Errorf("Bad Request: source %s parameters must be an object or null", name)
			}
		}
	}
	if src.name == "" {
		return nil, fmt.Errorf("Bad Request: source names no row source")
	}
	ts, hasTS := spec["timeSeries"]
	if timeSources[src.name] && !hasTS {
		return nil, fmt.Errorf("Bad Request: source %s requires a timeSeries", src.name)
	}
	if hasTS {
		periods, err := expandTimeSeries(ts, e)
		if err != nil {
			return nil, err
		}
		src.periods = periods
	}
	return src, nil
}

// expandTimeSeries turns {period, first, count|last} into periods aligned
// to the subscription's time zone. A negative count walks back from first:
// {first: now(), count: -1} is yesterday.
func expandTimeSeries(raw json.RawMessage, e *env) ([]period, error) {
	var ts struct {
		Period string          `json:"period"`
		First  json.RawMessage `json:"first"`
		Count  *int            `json:"count"`
		Last   json.RawMessage `json:"last"`
	}
	if err := json.Unmarshal(raw, &ts); err != nil {
		return nil, fmt.Errorf("Bad Request: timeSeries: %v", err)
	}
	unit, step, limit := "day", 24*time.Hour, maxDayPeriods
	switch ts.Period {
	case "dayRange":
	case "hourRange":
		unit, step, limit = "hour", time.Hour, maxHourPeriods
	default:
		return nil, fmt.Errorf("Bad Request: timeSeries period must be dayRange or hourRange, not %q", ts.Period)
	}
	first, err := timeValue(ts.First, e)
	if err != nil {
		return nil, fmt.Errorf("Bad Request: timeSeries first: %v", err)
	}
	start := startOf(first.In(e.loc), unit)
	var n int
	switch {
	case ts.Count != nil:
		n = *ts.Count
		if n < 0 {
			start = shift(start, unit, n, step)
			n = -n
		}
	case len(ts.Last) > 0:
		last, err := timeValue(ts.Last, e)
		if err != nil {
			return nil, fmt.Errorf("Bad Request: timeSeries last: %v", err)
		}
		for t := start; t.Before(last) && n <= limit; t = shift(t, unit, 1, step) {
			n++
		}
	default:
		return nil, fmt.Errorf("Bad Request: timeSeries needs count or last")
	}
	if n == 0 || n > limit {
		return nil, fmt.Errorf("Bad Request: timeSeries spans %d %ss; between 1 and %d are allowed per call", n, unit, limit)
	}
	out := make([]period, n)
	for i := range out {
		next := shift(start, unit, 1, step)
		out[i] = period{start: start, end: next, unit: unit}
		start = next
	}
	return out, nil
}

// shift moves t by n days (calendar days, so DST keeps midnights) or hours.
func shift(t time.Time, unit string, n int, step time.Duration) time.Time {
	if unit == "day" {
		return t.AddDate(0, 0, n)
	}
	return t.Add(time.Duration(n) * step)
}

// timeValue reads epoch milliseconds as a number, a numeric string, or an
// expression such as "now() - 7 * 24 * 60 * 60 * 1000".
func timeValue(raw json.RawMessage, e *env) (time.Time, error) {
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		if ms, err := n.Int64(); err == nil {
			return time.UnixMilli(ms), nil
		}
	}
	var text string
	if err := json.Unmarshal(raw, &text); err != nil {
		return time.Time{}, fmt.Errorf("must be epoch milliseconds or an expression")
	}
	if ms, err := strconv.ParseInt(text, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	x, err := parseExpr(text)
	if err != nil {
		return time.Time{}, err
	}
	v, ok := x.eval(e).(float64)
	if !ok {
		return time.Time{}, fmt.Errorf("%q is not a time", text)
	}
	return time.UnixMilli(int64(v)), nil
}

// appFilter reads the appId parameter: one id, a list, or
// expandAppIds("*") for every app; absent means the default app only, so
// multi-app data is missing unless asked for.
func (s *Server) appFilter(params map[string]json.RawMessage) (func(int64) bool, error) {
	raw, ok := params["appId"]
	if !ok {
		def := DefaultAppID
		if len(s.apps) > 0 {
			def = s.apps[0].ID
		}
		return func(id int64) bool { return id == def }, nil
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		t := strings.NewReplacer(" ", "", "`", `"`).Replace(text)
		if t == `expandAppIds("*")` {
			return func(int64) bool { return true }, nil
		}
		return nil, fmt.Errorf("Bad Request: appId %q is not an app id or expandAppIds(\"*\")", text)
	}
	var ids []int64
	var one int64
	if json.Unmarshal(raw, &one) == nil {
		ids = []int64{one}
	} else if err := json.Unmarshal(raw, &ids); err != nil {
		return nil, fmt.Errorf("Bad Request: appId must be a number, a list of numbers or expandAppIds(\"*\")")
	}
	return func(id int64) bool { return slices.Contains(ids, id) }, nil
}

func stringParam(params map[string]json.RawMessage, key string) string {
	var v string
	json.Unmarshal(params[key], &v)
	return v
}

// sourceRows produces a source's rows, for one period when p is set.
// Callers hold s.mu.
func (s *Server) sourceRows(src *source, p *period) ([]row, error) {
	switch src.name {
	case "visitors", "accounts":
		var identifiedOnly bool
		json.Unmarshal(src.params["identified"], &identifiedOnly)
		return s.entityRows(src.name, identifiedOnly), nil
	case "pollsSeenEver":
		return s.pollsSeenEver(stringParam(src.params, "guideId"), stringParam(src.params, "pollId"))
	}
	apps, err := s.appFilter(src.params)
	if err != nil {
		return nil, err
	}
	switch src.name {
	case "features", "pages", "guides", "trackTypes":
		return s.catalogRows(src.name, apps)
	case "guideEvents", "pollEvents":
		return s.listActivity(src, apps, p), nil
	}
	return s.rollUp(src, apps, p)
}

func (s *Server) entityRows(source string, identifiedOnly bool) []row {
	kind, idField := "visitor", "visitorId"
	if source == "accounts" {
		kind, idField = "account", "accountId"
	}
	ents := s.entities(kind)
	rows := make([]row, 0, len(ents))
	for id, e := range ents {
		if identifiedOnly && isAnonymous(id) {
			continue
		}
		md := map[string]any{}
		for g, fields := range e.Metadata {
			cp := make(map[string]any, len(fields))
			for k, v := range fields {
				cp[k] = v
			}
			md[g] = cp
		}
		rows = append(rows, row{idField: id, "metadata": md})
	}
	// Pendo promises no order; the emulator sorts by id so that tests are
	// deterministic, and clients must still sort to page.
	slices.SortFunc(rows, func(a, b row) int { return strings.Compare(a[idField].(string), b[idField].(string)) })
	return rows
}

// rollUp aggregates raw activity into the rows of events, featureEvents,
// pageEvents and trackEvents: one row per visitor, account, app, bucket
// (and feature, page or track type), with numEvents, numMinutes (distinct
// minutes with activity), firstTime and lastTime.
func (s *Server) rollUp(src *source, apps func(int64) bool, p *period) ([]row, error) {
	var kind, idField, want string
	switch src.name {
	case "featureEvents":
		kind, idField, want = "feature", "featureId", stringParam(src.params, "featureId")
	case "pageEvents":
		kind, idField, want = "page", "pageId", stringParam(src.params, "pageId")
	case "trackEvents":
		kind, idField, want = "track", "trackTypeId", stringParam(src.params, "trackTypeId")
	}
	var classes []string
	if raw, ok := src.params["eventClass"]; ok {
		if err := json.Unmarshal(raw, &classes); err != nil {
			return nil, fmt.Errorf("Bad Request: eventClass must be a list such as [\"web\"]")
		}
	}
	type key struct {
		visitor, account string
		app              int64
		id               string
	}
	type agg struct {
		n           int
		minutes     map[int64]bool
		first, last time.Time
		a           *Activity
	}
	groups := map[key]*agg{}
	var order []key
	window := s.activityBetween(p.start, p.end)
	for i := range window {
		a := &window[i]
		if !apps(a.AppID) {
			continue
		}
		if a.Kind == "guide" || a.Kind == "poll" || (kind != "" && a.Kind != kind) {
			continue
		}
		if len(classes) > 0 && !slices.Contains(classes, s.platform(a.AppID)) {
			continue
		}
		k := key{a.VisitorID, a.AccountID, a.AppID, ""}
		if kind != "" {
			k.id = map[string]string{"feature": a.FeatureID, "page": a.PageID, "track": a.TrackTypeID}[kind]
			if want != "" && k.id != want {
				continue
			}
		}
		g := groups[k]
		if g == nil {
			g = &agg{minutes: map[int64]bool{}, first: a.Time}
			groups[k] = g
			order = append(order, k)
		}
		g.n++
		g.minutes[a.Time.Unix()/60] = true
		if a.Time.Before(g.first) {
			g.first = a.Time
		}
		if !a.Time.Before(g.last) {
			g.last, g.a = a.Time, a
		}
	}
	rows := make([]row, 0, len(order))
	for _, k := range order {
		g := groups[k]
		r := row{"visitorId": k.visitor, "accountId": k.account, "appId": k.app, p.unit: p.start.UnixMilli(),
			"numEvents": g.n, "numMinutes": len(g.minutes), "firstTime": g.first.UnixMilli(), "lastTime": g.last.UnixMilli(),
			"remoteIp": g.a.RemoteIP, "server": g.a.Server, "userAgent": g.a.UserAgent}
		if kind != "" {
			r[idField] = k.id
		}
		if kind == "track" && g.a.Properties != nil {
			r["properties"] = g.a.Properties
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func (s *Server) platform(app int64) string {
	for _, a := range s.apps {
		if a.ID == app && a.Platform != "" {
			return a.Platform
		}
	}
	return "web"
}

// listActivity lists guide or poll activity of one period, one row each.
func (s *Server) listActivity(src *source, apps func(int64) bool, p *period) []row {
	kind := "guide"
	if src.name == "pollEvents" {
		kind = "poll"
	}
	guideID, pollID := stringParam(src.params, "guideId"), stringParam(src.params, "pollId")
	var rows []row
	for _, a := range s.activityBetween(p.start, p.end) {
		if a.Kind != kind || !apps(a.AppID) ||
			(guideID != "" && a.GuideID != guideID) || (pollID != "" && a.PollID != pollID) {
			continue
		}
		r := row{"visitorId": a.VisitorID, "accountId": a.AccountID, "appId": a.AppID, "browserTime": a.Time.UnixMilli(),
			"guideTimestamp": a.Time.UnixMilli(), "type": a.GuideType, "guideId": a.GuideID, "guideStepId": a.GuideStepID,
			"url": a.URL, "remoteIp": a.RemoteIP, "serverName": a.Server, "userAgent": a.UserAgent, "properties": a.Properties}
		if kind == "poll" {
			r["pollId"], r["pollResponse"], r["pollType"] = a.PollID, a.Response, s.pollType(a.GuideID, a.PollID)
		}
		rows = append(rows, r)
	}
	return rows
}

func (s *Server) pollType(guideID, pollID string) string {
	for _, g := range s.guides {
		for _, p := range g.Polls {
			if g.ID == guideID && p.ID == pollID {
				return p.Type
			}
		}
	}
	return ""
}

// pollsSeenEver gives each visitor's latest response to one poll.
func (s *Server) pollsSeenEver(guideID, pollID string) ([]row, error) {
	if guideID == "" || pollID == "" {
		return nil, fmt.Errorf("Bad Request: pollsSeenEver needs guideId and pollId")
	}
	latest := map[string]*Activity{}
	var order []string
	for i := range s.activity {
		a := &s.activity[i]
		if a.Kind != "poll" || a.GuideID != guideID || a.PollID != pollID {
			continue
		}
		if prev, ok := latest[a.VisitorID]; !ok {
			order = append(order, a.VisitorID)
			latest[a.VisitorID] = a
		} else if !a.Time.Before(prev.Time) {
			latest[a.VisitorID] = a
		}
	}
	rows := make([]row, 0, len(order))
	for _, v := range order {
		a := latest[v]
		rows = append(rows, row{"visitorId": a.VisitorID, "accountId": a.AccountID, "guideId": guideID, "pollId": pollID,
			"time": a.Time.UnixMilli(), "response": a.Response})
	}
	return rows, nil
}

// isAnonymous reports Pendo's anonymous visitor ids.
func isAnonymous(id string) bool { return strings.HasPrefix(id, "_PENDO_T_") }

// applySteps runs the row-processing steps after a source.
func applySteps(rows []row, steps []json.RawMessage, e *env) ([]row, error) {
	for _, raw := range steps {
		o, err := oneOp(raw)
		if err != nil {
			return nil, err
		}
		if rows, err = applyStep(rows, o, e); err != nil {
			return nil, err
		}
	}
	return rows, nil
}

func applyStep(rows []row, o op, e *env) ([]row, error) {
	arg := o.arg
	switch o.name {
	case "identified":
		var field string
		if err := json.Unmarshal(arg, &field); err != nil {
			return nil, fmt.Errorf("Bad Request: identified takes a field name")
		}
		want := !strings.HasPrefix(field, "!")
		field = strings.TrimPrefix(field, "!")
		return slices.DeleteFunc(rows, func(r row) bool {
			id, _ := lookup(r, field).(string)
			return (id != "" && !isAnonymous(id)) != want
		}), nil
	case "segment":
		var sg struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(arg, &sg); err != nil || sg.ID == "" {
			return nil, fmt.Errorf("Bad Request: segment takes {id: segmentId}")
		}
		if _, ok := e.member(sg.ID, ""); !ok {
			return nil, fmt.Errorf("Bad Request: unknown segment %q", sg.ID)
		}
		return slices.DeleteFunc(rows, func(r row) bool {
			id, _ := lookup(r, "visitorId").(string)
			in, _ := e.member(sg.ID, id)
			return !in
		}), nil
	case "filter":
		var text string
		if err := json.Unmarshal(arg, &text); err != nil {
			return nil, fmt.Errorf("Bad Request: filter takes an expression string")
		}
		x, err := parseExpr(text)
		if err != nil {
			return nil, fmt.Errorf("Cannot parse filter expression: %v", err)
		}
		return slices.DeleteFunc(rows, func(r row) bool { e.row = r; return !truthy(x.eval(e)) }), nil
	case "eval":
		var fields map[string]string
		if err := json.Unmarshal(arg, &fields); err != nil {
			return nil, fmt.Errorf("Bad Request: eval takes an object of field to expression")
		}
		exprs := map[string]expr{}
		for f, text := range fields {
			x, err := parseExpr(text)
			if err != nil {
				return nil, fmt.Errorf("Cannot parse eval expression for %s: %v", f, err)
			}
			exprs[f] = x
		}
		for _, r := range rows {
			e.row = r
			vals := map[string]any{}
			for f, x := range exprs {
				vals[f] = x.eval(e)
			}
			for f, v := range vals {
				r[f] = v
			}
		}
		return rows, nil
	case "select":
		var fields map[string]string
		if err := json.Unmarshal(arg, &fields); err != nil {
			return nil, fmt.Errorf("Bad Request: select takes an object of output name to field path")
		}
		out := make([]row, len(rows))
		for i, r := range rows {
			o := make(row, len(fields))
			for name, path := range fields {
				if strings.HasSuffix(path, ")") { // a function such as now()
					x, err := parseExpr(path)
					if err != nil {
						return nil, fmt.Errorf("Bad Request: select %s: %v", name, err)
					}
					e.row = r
					o[name] = x.eval(e)
					continue
				}
				o[name] = lookup(r, path)
			}
			out[i] = o
		}
		return out, nil
	case "sort":
		var keys []string
		if err := json.Unmarshal(arg, &keys); err != nil {
			return nil, fmt.Errorf("Bad Request: sort takes a list of field names")
		}
		slices.SortStableFunc(rows, func(a, b row) int {
			for _, k := range keys {
				desc := strings.HasPrefix(k, "-")
				k = strings.TrimPrefix(k, "-")
				c := compare(lookup(a, k), lookup(b, k))
				if desc {
					c = -c
				}
				if c != 0 {
					return c
				}
			}
			return 0
		})
		return rows, nil
	case "limit", "skip":
		var n int
		if err := json.Unmarshal(arg, &n); err != nil || n < 0 {
			return nil, fmt.Errorf("Bad Request: %s takes a non-negative integer", o.name)
		}
		if o.name == "limit" {
			return rows[:min(n, len(rows))], nil
		}
		return rows[min(n, len(rows)):], nil
	case "count":
		return []row{{"count": len(rows)}}, nil
	case "cat":
		return rows, nil // periods are already concatenated
	case "group":
		var g struct {
			Group  []string        `json:"group"`
			Fields json.RawMessage `json:"fields"`
		}
		if err := json.Unmarshal(arg, &g); err != nil {
			return nil, fmt.Errorf("Bad Request: group takes {group: [fields], fields: {...}}")
		}
		aggs, err := parseAggregates(g.Fields)
		if err != nil {
			return nil, err
		}
		return groupRows(rows, g.Group, aggs), nil
	case "reduce":
		aggs, err := parseAggregates(arg)
		if err != nil {
			return nil, err
		}
		return groupRows(rows, nil, aggs), nil
	case "join":
		var j struct {
			Fields []string `json:"fields"`
			Width  int      `json:"width"`
		}
		if err := json.Unmarshal(arg, &j); err != nil || len(j.Fields) == 0 || j.Width < 1 {
			return nil, fmt.Errorf("Bad Request: join takes {fields: [...], width: n}")
		}
		return joinRows(rows, j.Fields), nil
	}
	return nil, fmt.Errorf("Bad Request: pipeline operator %q is not supported by this emulator", o.name)
}

type aggregate struct{ out, fn, field string }

// parseAggregates reads {out: {fn: field}} or [{out: {fn: field}}, …].
func parseAggregates(raw json.RawMessage) ([]aggregate, error) {
	var list []map[string]map[string]string
	var one map[string]map[string]string
	if err := json.Unmarshal(raw, &one); err == nil {
		list = []map[string]map[string]string{one}
	} else if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("Bad Request: aggregates take {out: {sum|count|min|max|avg|first|last: field}}")
	}
	var out []aggregate
	for _, m := range list {
		for name, spec := range m {
			for fn, f := range spec {
				switch fn {
				case "sum", "count", "min", "max", "avg", "first", "last":
				default:
					return nil, fmt.Errorf("Bad Request: unknown aggregate %q", fn)
				}
				out = append(out, aggregate{name, fn, f})
			}
		}
	}
	slices.SortFunc(out, func(a, b aggregate) int { return strings.Compare(a.out, b.out) })
	return out, nil
}

// groupRows groups by the key fields (none: one group of everything) and
// computes the aggregates; count counts distinct non-null values.
func groupRows(rows []row, keys []string, aggs []aggregate) []row {
	type group struct {
		key  row
		rows []row
	}
	var groups []*group
	index := map[string]*group{}
	for _, r := range rows {
		k := make(row, len(keys))
		parts := make([]string, len(keys))
		for i, f := range keys {
			k[f] = lookup(r, f)
			b, _ := json.Marshal(k[f])
			parts[i] = string(b)
		}
		id := strings.Join(parts, "\x00")
		g := index[id]
		if g == nil {
			g = &group{key: k}
			index[id] = g
			groups = append(groups, g)
		}
		g.rows = append(g.rows, r)
	}
	if len(keys) == 0 && len(groups) == 0 {
		groups = []*group{{key: row{}}}
	}
	out := make([]row, len(groups))
	for i, g := range groups {
		r := g.key
		for _, a := range aggs {
			r[a.out] = compute(a, g.rows)
		}
		out[i] = r
	}
	return out
}

func compute(a aggregate, rows []row) any {
	var vals []any
	for _, r := range rows {
		if v := normalize(lookup(r, a.field)); v != nil {
			vals = append(vals, v)
		}
	}
	switch a.fn {
	case "count":
		seen := map[string]bool{}
		for _, v := range vals {
			b, _ := json.Marshal(v)
			seen[string(b)] = true
		}
		return len(seen)
	case "first":
		if len(vals) > 0 {
			return vals[0]
		}
		return nil
	case "last":
		if len(vals) > 0 {
			return vals[len(vals)-1]
		}
		return nil
	case "min", "max":
		var best any
		for _, v := range vals {
			if best == nil || (a.fn == "min") == (compare(v, best) < 0) {
				best = v
			}
		}
		return best
	}
	sum, n := 0.0, 0
	for _, v := range vals {
		if f, ok := v.(float64); ok {
			sum += f
			n++
		}
	}
	if a.fn == "avg" {
		if n == 0 {
			return nil
		}
		return sum / float64(n)
	}
	return sum
}

// joinRows merges the rows that share the key fields into one, as Pendo's
// join does for the pipelines of a spawn.
func joinRows(rows []row, keys []string) []row {
	index := map[string]row{}
	var out []row
	for _, r := range rows {
		parts := make([]string, len(keys))
		for i, f := range keys {
			b, _ := json.Marshal(lookup(r, f))
			parts[i] = string(b)
		}
		id := strings.Join(parts, "\x00")
		m, ok := index[id]
		if !ok {
			m = row{}
			index[id] = m
			out = append(out, m)
		}
		for k, v := range r {
			if _, have := m[k]; !have || m[k] == nil {
				m[k] = v
			}
		}
	}
	return out
}

// lookup reads a dotted path with optional indexes (polls[0].id) from a
// row; missing parts read as nil.
func lookup(r row, path string) any {
	var cur any = r
	for _, part := range strings.Split(path, ".") {
		name, idx := part, -1
		if i := strings.IndexByte(part, '['); i >= 0 && strings.HasSuffix(part, "]") {
			n, err := strconv.Atoi(part[i+1 : len(part)-1])
			if err != nil {
				return nil
			}
			name, idx = part[:i], n
		}
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[name]
		if idx >= 0 {
			list, ok := cur.([]any)
			if !ok || idx >= len(list) {
				return nil
			}
			cur = list[idx]
		}
	}
	return cur
}
