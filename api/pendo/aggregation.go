package pendo

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Step is one pipeline step of an aggregation, e.g.
// {"filter": "visitorId > \"x\""}.
type Step map[string]any

// Aggregate runs an aggregation pipeline and calls fn once per result row,
// decoding the response as a stream so that a response of millions of rows
// never sits in memory whole. fn's error stops the call.
func (c *Client) Aggregate(ctx context.Context, pipeline []Step, fn func(row json.RawMessage) error) error {
	const path = "/api/v1/aggregation"
	body := map[string]any{
		"response": map[string]string{"mimeType": "application/json"},
		"request":  map[string]any{"pipeline": pipeline},
	}
	// Aggregations only read, so a lost response is safe to retry.
	resp, err := c.send(ctx, "POST", path, "aggregation", body, true)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	if err := seekResults(dec); err != nil {
		return fmt.Errorf("pendo: POST %s: decode response: %w", path, err)
	}
	for dec.More() {
		var row json.RawMessage
		if err := dec.Decode(&row); err != nil {
			return fmt.Errorf("pendo: POST %s: decode row: %w", path, err)
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return nil
}

// seekResults advances dec to the first element of the top-level
// "results" array, skipping other members.
func seekResults(dec *json.Decoder) error {
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return fmt.Errorf("expected a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if tok == "results" {
			if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
				return fmt.Errorf("results is not an array")
			}
			return nil
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	return fmt.Errorf("no results array in response")
}

// Quote renders s as a string literal of Pendo's filter language, escaping
// backslashes and double quotes (unescaped ones make Pendo answer 400).
func Quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Entity is a visitor or an account row: its id and metadata by group.
type Entity struct {
	ID       string
	Metadata map[string]map[string]json.RawMessage
}

// ListOptions select visitors or accounts.
type ListOptions struct {
	// IncludeAnonymous keeps anonymous (_PENDO_T_…) visitors.
	IncludeAnonymous bool
	// PageSize is rows per aggregation call; default 10,000.
	PageSize int
}

// Visitors pages through every visitor in id order, calling fn per page.
func (c *Client) Visitors(ctx context.Context, opts ListOptions, fn func([]Entity) error) error {
	return c.listEntities(ctx, "visitors", "visitorId", opts, fn)
}

// Accounts pages through every account in id order, calling fn per page.
func (c *Client) Accounts(ctx context.Context, opts ListOptions, fn func([]Entity) error) error {
	return c.listEntities(ctx, "accounts", "accountId", opts, fn)
}

// listEntities pages with a keyset on the id: sort by id, filter id > last,
// limit. Ids are unique, so the boundary has no ties.
func (c *Client) listEntities(ctx context.Context, source, idField string, opts ListOptions, fn func([]Entity) error) error {
	size := opts.PageSize
	if size == 0 {
		size = 10_000
	}
	last := ""
	for {
		pipeline := []Step{{"source": map[string]any{source: nil}}}
		if !opts.IncludeAnonymous && source == "visitors" {
			pipeline = append(pipeline, Step{"identified": idField})
		}
		if last != "" {
			pipeline = append(pipeline, Step{"filter": idField + " > " + Quote(last)})
		}
		pipeline = append(pipeline, Step{"sort": []string{idField}}, Step{"limit": size})

		page := make([]Entity, 0, size)
		err := c.Aggregate(ctx, pipeline, func(raw json.RawMessage) error {
			var row map[string]json.RawMessage
			if err := json.Unmarshal(raw, &row); err != nil {
				return fmt.Errorf("pendo: %s row: %w", source, err)
			}
			var e Entity
			if err := json.Unmarshal(row[idField], &e.ID); err != nil {
				return fmt.Errorf("pendo: %s row: %s is not a string: %s", source, idField, row[idField])
			}
			if md := row["metadata"]; len(md) > 0 && string(md) != "null" {
				if err := json.Unmarshal(md, &e.Metadata); err != nil {
					return fmt.Errorf("pendo: %s %s: metadata: %w", source, e.ID, err)
				}
			}
			page = append(page, e)
			return nil
		})
		if err != nil {
			return err
		}
		if len(page) > 0 {
			if err := fn(page); err != nil {
				return err
			}
			next := page[len(page)-1].ID
			if next <= last {
				return fmt.Errorf("pendo: %s paging did not advance past %s", source, strconv.Quote(last))
			}
			last = next
		}
		if len(page) < size {
			return nil
		}
	}
}
