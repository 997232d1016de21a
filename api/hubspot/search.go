package hubspot

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Filter is one search filter. Value, HighValue (BETWEEN) and Values
// (IN, NOT_IN) are strings, as HubSpot takes them.
type Filter struct {
	PropertyName string   `json:"propertyName"`
	Operator     string   `json:"operator"`
	Value        string   `json:"value,omitempty"`
	HighValue    string   `json:"highValue,omitempty"`
	Values       []string `json:"values,omitempty"`
}

// Sort orders search results. HubSpot honours only one.
type Sort struct {
	PropertyName string `json:"propertyName"`
	Direction    string `json:"direction"` // ASCENDING or DESCENDING
}

// SearchRequest is one search call. Filters in a group are ANDed, groups
// are ORed (at most 5 groups, 6 filters each, 18 in all).
type SearchRequest struct {
	FilterGroups [][]Filter
	Sort         *Sort
	Properties   []string
	Limit        int    // 1–200; default 200
	After        string // offset cursor from the previous page
}

// SearchPage is one page of results.
type SearchPage struct {
	Total   int
	Results []Object
	After   string // "" on the last page
}

// Search limits.
const (
	maxSearchLimit = 200
	// SearchCap is how many results one search query can page through;
	// HubSpot answers 400 past it.
	SearchCap = 10_000
)

// Search runs one search call under the search limiter (5 requests/s per
// account, separate from the burst window; search responses carry no
// rate-limit headers).
func (c *Client) Search(ctx context.Context, objectType string, req SearchRequest) (*SearchPage, error) {
	page, total, next, err := c.searchPage(ctx, objectType, req)
	if err != nil {
		return nil, err
	}
	return &SearchPage{Total: total, Results: page.Objects(), After: next}, nil
}

// searchPage is Search, as a Page.
func (c *Client) searchPage(ctx context.Context, objectType string, req SearchRequest) (*Page, int, string, error) {
	limit := req.Limit
	if limit == 0 {
		limit = maxSearchLimit
	}
	groups := make([]map[string]any, len(req.FilterGroups))
	for i, g := range req.FilterGroups {
		groups[i] = map[string]any{"filters": g}
	}
	body := map[string]any{"filterGroups": groups, "limit": limit, "properties": orEmpty(req.Properties)}
	if req.Sort != nil {
		body["sorts"] = []Sort{*req.Sort}
	}
	if req.After != "" {
		body["after"] = req.After
	}
	ans := &pageAnswer{page: newPage(slices.Clone(req.Properties), nil)}
	if err := c.do(ctx, call{method: "POST", path: c.objectsPath(objectType) + "/search", body: body, out: ans, idempotent: true, search: true}); err != nil {
		return nil, 0, "", err
	}
	next := ans.next
	if err := checkPage(ans, req.After, limit); err != nil {
		return nil, 0, "", fmt.Errorf("hubspot: search %s: %w", objectType, err)
	}
	if next != "" {
		// Search cursors are offsets, and the next is past this page.
		n, err := strconv.Atoi(next)
		cur, _ := strconv.Atoi(req.After)
		if err != nil || n <= cur {
			return nil, 0, "", fmt.Errorf("hubspot: search %s: %w: the next cursor %q does not move past offset %d", objectType, ErrBadPage, next, cur)
		}
	}
	return ans.page, ans.total, next, nil
}

// LastModifiedProperty is the property HubSpot keeps the modification time
// in: lastmodifieddate for contacts, hs_lastmodifieddate for the others.
func LastModifiedProperty(objectType string) string {
	if objectType == "contacts" || objectType == "0-1" {
		return "lastmodifieddate"
	}
	return "hs_lastmodifieddate"
}

// ModifiedBetween pages through every record of objectType modified in
// [since, until], calling fn per page, in ascending modification order.
//
// A search query stops at 10,000 results, so the range is walked in
// windows: sorted by the last-modified property, and when a window nears
// the cap the next one starts at the last timestamp seen. Records sharing
// that timestamp (HubSpot's bulk jobs stamp thousands at once) are read
// again in their own query sorted by hs_object_id, with hs_object_id >
// last as a tie-breaker, so neither a shared timestamp nor the cap can
// lose a record or loop forever. A record may be delivered twice, at a
// window boundary; consumers merge on id.
func (c *Client) ModifiedBetween(ctx context.Context, objectType string, since, until time.Time, properties []string, fn func([]Object) error) error {
	return c.ModifiedBetweenPages(ctx, objectType, since, until, properties, func(p *Page) error { return fn(p.Objects()) })
}

// ModifiedBetweenPages is ModifiedBetween, a Page at a time.
func (c *Client) ModifiedBetweenPages(ctx context.Context, objectType string, since, until time.Time, properties []string, fn func(*Page) error) error {
	prop := LastModifiedProperty(objectType)
	ms := func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }
	from := since
	inclusive := true
	for {
		lower := Filter{PropertyName: prop, Operator: "GTE", Value: ms(from)}
		if !inclusive {
			lower.Operator = "GT"
		}
		req := SearchRequest{
			FilterGroups: [][]Filter{{lower, {PropertyName: prop, Operator: "LTE", Value: ms(until)}}},
			Sort:         &Sort{PropertyName: prop, Direction: "ASCENDING"},
			Properties:   properties,
		}
		var last time.Time
		seen, pages := 0, 0
		for {
			if pages++; pages > c.maxPages {
				return fmt.Errorf("hubspot: search %s: %w: more than %d pages", objectType, ErrBadPage, c.maxPages)
			}
			page, _, after, err := c.searchPage(ctx, objectType, req)
			if err != nil {
				return err
			}
			// Every record in the window asked for, in the order asked for.
			for i := range page.Len() {
				at, err := modified(page, i, prop)
				if err != nil {
					return err
				}
				if at.Before(from) || (!inclusive && at.Equal(from)) || at.After(until) || at.Before(last) {
					return fmt.Errorf("hubspot: search %s: %w: record %s modified %s, outside the window (%s, %s] or out of order",
						objectType, ErrBadPage, page.ID(i), at.Format(time.RFC3339Nano), from.Format(time.RFC3339Nano), until.Format(time.RFC3339Nano))
				}
				last = at
			}
			if page.Len() > 0 {
				if err := fn(page); err != nil {
					return err
				}
				seen += page.Len()
			}
			if after == "" {
				return nil // the window held everything left
			}
			next, _ := strconv.Atoi(after) // checked by searchPage
			if next+maxSearchLimit > SearchCap {
				break // the next page would cross the cap
			}
			req.After = after
		}
		if seen == 0 || last.IsZero() {
			return fmt.Errorf("hubspot: search %s: window from %s made no progress", objectType, from.Format(time.RFC3339Nano))
		}
		// Everything at `last` is read again by id, then the next window
		// starts strictly after it.
		if err := c.modifiedAt(ctx, objectType, prop, last, properties, fn); err != nil {
			return err
		}
		from, inclusive = last, false
	}
}

// modifiedAt reads every record whose last-modified time equals at, paging
// by hs_object_id so that any number of them can be read.
func (c *Client) modifiedAt(ctx context.Context, objectType, prop string, at time.Time, properties []string, fn func(*Page) error) error {
	lastID := "0"
	for {
		req := SearchRequest{
			FilterGroups: [][]Filter{{
				{PropertyName: prop, Operator: "EQ", Value: strconv.FormatInt(at.UnixMilli(), 10)},
				{PropertyName: "hs_object_id", Operator: "GT", Value: lastID},
			}},
			Sort:       &Sort{PropertyName: "hs_object_id", Direction: "ASCENDING"},
			Properties: properties,
		}
		for pages := 1; ; pages++ {
			if pages > c.maxPages {
				return fmt.Errorf("hubspot: search %s: %w: more than %d pages", objectType, ErrBadPage, c.maxPages)
			}
			page, _, after, err := c.searchPage(ctx, objectType, req)
			if err != nil {
				return err
			}
			for i := range page.Len() {
				t, err := modified(page, i, prop)
				if err != nil {
					return err
				}
				if id := page.ID(i); !t.Equal(at) || !idAfter(id, lastID) {
					return fmt.Errorf("hubspot: search %s: %w: record %s (modified %s) is not one asked for (modified %s, id after %s)",
						objectType, ErrBadPage, id, t.Format(time.RFC3339Nano), at.Format(time.RFC3339Nano), lastID)
				}
				lastID = page.ID(i)
			}
			if page.Len() > 0 {
				if err := fn(page); err != nil {
					return err
				}
			}
			if after == "" {
				return nil
			}
			next, _ := strconv.Atoi(after) // checked by searchPage
			if next+maxSearchLimit > SearchCap {
				break // restart after lastID
			}
			req.After = after
		}
	}
}

// idAfter reports whether id sorts after prev as HubSpot's numeric ids do.
func idAfter(id, prev string) bool {
	a, err1 := strconv.ParseInt(id, 10, 64)
	b, err2 := strconv.ParseInt(prev, 10, 64)
	if err1 != nil || err2 != nil {
		return id > prev
	}
	return a > b
}

func modified(p *Page, i int, prop string) (time.Time, error) {
	v, _ := p.Value(i, prop)
	if v == "" {
		return p.UpdatedAt(i), nil
	}
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("hubspot: record %s: %s %q is not a time", p.ID(i), prop, v)
	}
	return t, nil
}
