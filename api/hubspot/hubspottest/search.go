package hubspottest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// listObjects serves GET /crm/v3/objects/{objectType}.
func (s *Server) listObjects(rw *response, r *http.Request, t *objectType) {
	q := r.URL.Query()
	limit := 10
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			rw.validation(fmt.Sprintf("limit must be an integer between 1 and 100, got %q", v))
			return
		}
		limit = n
	}
	var after int64
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			rw.validation(fmt.Sprintf("after %q is not a valid paging cursor", v))
			return
		}
		after = n
	}
	archived := q.Get("archived") == "true"
	requested := listParam(q, "properties")
	if len(requested) == 0 {
		requested = t.defaults
	}
	start, _ := slices.BinarySearch(t.ids, after)
	results := make([]map[string]any, 0, limit)
	i := start
	for ; i < len(t.ids) && len(results) < limit; i++ {
		o := t.records[t.ids[i]]
		if o.Archived != archived {
			continue
		}
		results = append(results, t.render(o, requested))
	}
	// Skip to the next record this query would return, so that paging ends
	// without an empty page, as HubSpot's does.
	for i < len(t.ids) && t.records[t.ids[i]].Archived != archived {
		i++
	}
	body := map[string]any{"results": results}
	if i < len(t.ids) {
		next := strconv.FormatInt(t.ids[i], 10)
		lq := r.URL.Query()
		lq.Set("after", next)
		body["paging"] = map[string]any{"next": map[string]string{"after": next, "link": r.URL.Path + "?" + lq.Encode()}}
	}
	rw.json(http.StatusOK, body)
}

// Search limits (HubSpot's search guide).
const (
	maxSearchLimit   = 200
	maxSearchResults = 10_000
	maxFilterGroups  = 5
	maxGroupFilters  = 6
	maxFilters       = 18
	maxQueryLength   = 3000
)

type searchRequest struct {
	FilterGroups []struct {
		Filters []searchFilter `json:"filters"`
	} `json:"filterGroups"`
	Sorts      []searchSort `json:"sorts"`
	Properties []string     `json:"properties"`
	Limit      *int         `json:"limit"`
	After      string       `json:"after"`
	Query      string       `json:"query"`
}

type searchFilter struct {
	PropertyName string   `json:"propertyName"`
	Operator     string   `json:"operator"`
	Value        *string  `json:"value"`
	HighValue    *string  `json:"highValue"`
	Values       []string `json:"values"`
}

// searchSort accepts both forms HubSpot takes: a property name string, or
// {propertyName, direction}.
type searchSort struct {
	PropertyName string `json:"propertyName"`
	Direction    string `json:"direction"`
}

func (ss *searchSort) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		name, err := strconv.Unquote(string(b))
		ss.PropertyName, ss.Direction = name, "ASCENDING"
		return err
	}
	type plain searchSort
	return json.Unmarshal(b, (*plain)(ss))
}

// search serves POST /crm/v3/objects/{objectType}/search.
func (s *Server) search(rw *response, r *http.Request, t *objectType) {
	var req searchRequest
	if !decode(rw, r, &req) {
		return
	}
	limit := 10
	if req.Limit != nil {
		limit = *req.Limit
	}
	if limit < 1 || limit > maxSearchLimit {
		rw.validation(fmt.Sprintf("limit must be between 1 and %d", maxSearchLimit))
		return
	}
	offset := 0
	if req.After != "" {
		n, err := strconv.Atoi(req.After)
		if err != nil || n < 0 {
			rw.validation(fmt.Sprintf("after %q is not a valid paging cursor", req.After))
			return
		}
		offset = n
	}
	if offset >= maxSearchResults {
		// Airbyte PR 10700: paging past 10,000 answers 400.
		rw.validation(fmt.Sprintf("Search results are limited to %d; after=%d is past the end", maxSearchResults, offset))
		return
	}
	if len(req.Query) > maxQueryLength {
		rw.validation(fmt.Sprintf("query must be at most %d characters", maxQueryLength))
		return
	}
	if len(req.FilterGroups) > maxFilterGroups {
		rw.validation(fmt.Sprintf("Too many filter groups: %d. The maximum is %d.", len(req.FilterGroups), maxFilterGroups))
		return
	}
	total := 0
	for _, g := range req.FilterGroups {
		if len(g.Filters) > maxGroupFilters {
			rw.validation(fmt.Sprintf("Too many filters in a group: %d. The maximum is %d.", len(g.Filters), maxGroupFilters))
			return
		}
		total += len(g.Filters)
		for _, f := range g.Filters {
			if msg := t.checkFilter(f); msg != "" {
				rw.validation(msg)
				return
			}
		}
	}
	if total > maxFilters {
		rw.validation(fmt.Sprintf("Too many filters: %d. The maximum is %d.", total, maxFilters))
		return
	}
	// HubSpot honours one sort; later ones are ignored.
	var sort *searchSort
	if len(req.Sorts) > 0 {
		sort = &req.Sorts[0]
		if _, ok := t.property(sort.PropertyName); !ok {
			rw.validation(fmt.Sprintf("Cannot sort by unknown property %q", sort.PropertyName))
			return
		}
	}

	// The index lags writes by SearchLag: it answers with each record as
	// it was then (old values, not yet created, not yet archived).
	horizon := s.now().Add(-s.opts.SearchLag)
	var matches []*Object
	for _, id := range t.ids {
		o := t.records[id]
		if s.opts.SearchLag > 0 {
			o = o.indexedAt(horizon)
		} else if o.Archived {
			o = nil
		}
		if o != nil && t.matches(o, req) {
			matches = append(matches, o)
		}
	}
	if sort != nil {
		p, _ := t.property(sort.PropertyName)
		desc := strings.EqualFold(sort.Direction, "DESCENDING")
		slices.SortStableFunc(matches, func(a, b *Object) int {
			c := compareValues(p.Type, a.Properties[p.Name], b.Properties[p.Name])
			if desc {
				c = -c
			}
			return c
		})
	}
	props := req.Properties
	if len(props) == 0 {
		props = t.defaults
	}
	end := min(offset+limit, len(matches), maxSearchResults)
	results := []map[string]any{}
	for _, o := range matches[min(offset, len(matches)):end] {
		obj := t.render(o, props)
		results = append(results, obj)
	}
	body := map[string]any{"total": len(matches), "results": results}
	if end < len(matches) {
		// At the cap HubSpot still hands out after=10000, and then answers
		// it with 400.
		body["paging"] = map[string]any{"next": map[string]string{"after": strconv.Itoa(end)}}
	}
	rw.json(http.StatusOK, body)
}

var operators = []string{"EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"}

func (t *objectType) checkFilter(f searchFilter) string {
	if !slices.Contains(operators, f.Operator) {
		return fmt.Sprintf("Unknown filter operator %q", f.Operator)
	}
	if _, ok := t.property(f.PropertyName); !ok && !strings.HasPrefix(f.PropertyName, "associations.") {
		return fmt.Sprintf("Unknown property %q in filter", f.PropertyName)
	}
	switch f.Operator {
	case "HAS_PROPERTY", "NOT_HAS_PROPERTY":
	case "IN", "NOT_IN":
		if len(f.Values) == 0 {
			return fmt.Sprintf("Operator %s requires values", f.Operator)
		}
	case "BETWEEN":
		if f.Value == nil || f.HighValue == nil {
			return "Operator BETWEEN requires value and highValue"
		}
	default:
		if f.Value == nil {
			return fmt.Sprintf("Operator %s requires a value", f.Operator)
		}
	}
	return ""
}

// matches applies filter groups: filters in a group are ANDed, groups ORed.
func (t *objectType) matches(o *Object, req searchRequest) bool {
	if q := strings.ToLower(strings.TrimSpace(req.Query)); q != "" {
		found := false
		for _, name := range t.defaults {
			if strings.Contains(strings.ToLower(o.Properties[name]), q) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	if len(req.FilterGroups) == 0 {
		return true
	}
	for _, g := range req.FilterGroups {
		all := true
		for _, f := range g.Filters {
			if !t.filterMatches(o, f) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func (t *objectType) filterMatches(o *Object, f searchFilter) bool {
	p, _ := t.property(f.PropertyName)
	v, has := o.Properties[f.PropertyName]
	cmp := func(want string) int { return compareValues(p.Type, v, want) }
	switch f.Operator {
	case "HAS_PROPERTY":
		return has
	case "NOT_HAS_PROPERTY":
		return !has
	case "IN", "NOT_IN":
		in := slices.ContainsFunc(f.Values, func(x string) bool { return has && cmp(x) == 0 })
		return in == (f.Operator == "IN")
	case "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN":
		tok := strings.ToLower(strings.Trim(*f.Value, "*"))
		in := has && strings.Contains(strings.ToLower(v), tok)
		return in == (f.Operator == "CONTAINS_TOKEN")
	case "NEQ":
		return !has || cmp(*f.Value) != 0
	}
	if !has {
		return false
	}
	switch f.Operator {
	case "EQ":
		return cmp(*f.Value) == 0
	case "LT":
		return cmp(*f.Value) < 0
	case "LTE":
		return cmp(*f.Value) <= 0
	case "GT":
		return cmp(*f.Value) > 0
	case "GTE":
		return cmp(*f.Value) >= 0
	case "BETWEEN":
		return cmp(*f.Value) >= 0 && cmp(*f.HighValue) <= 0
	}
	return false
}

// compareValues orders two stored values by the property's type: numbers
// numerically, dates and datetimes as instants (filters may give epoch ms
// or ISO 8601), everything else case-insensitively. Unset sorts first.
func compareValues(typ, a, b string) int {
	if a == "" || b == "" {
		return strings.Compare(a, b)
	}
	switch typ {
	case "number":
		x, err1 := strconv.ParseFloat(a, 64)
		y, err2 := strconv.ParseFloat(b, 64)
		if err1 == nil && err2 == nil {
			return cmpFloat(x, y)
		}
	case "date", "datetime":
		x, err1 := parseDateValue(a)
		y, err2 := parseDateValue(b)
		if err1 == nil && err2 == nil {
			return x.Compare(y)
		}
	}
	return strings.Compare(strings.ToLower(a), strings.ToLower(b))
}

func cmpFloat(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}
