package pendo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/backflow-dev/backflow/api/backoff"
	"github.com/backflow-dev/backflow/api/jsonscan"
	"github.com/backflow-dev/backflow/api/wire"
)

// Step is one pipeline step of an aggregation, e.g.
// {"filter": "visitorId > \"x\""}.
type Step map[string]any

// Aggregate runs an aggregation pipeline and calls fn once per result row,
// reading the response as a stream so that a response of millions of rows
// never sits in memory whole. The row is raw JSON, checked, and aliases the
// read buffer: it is valid only during the call. fn's error stops the call.
func (c *Client) Aggregate(ctx context.Context, pipeline []Step, fn func(row json.RawMessage) error) error {
	return c.aggregate(ctx, pipeline, func(row jsonscan.Value) error { return fn(row.Raw()) })
}

// aggregate runs a pipeline and calls next once per result row, raw (see
// Aggregate). The answer must be one object whose "results" array is
// whole: a body cut between two rows is an error, not a shorter result.
// One row may not exceed MaxRow, so a stream's memory stays bounded
// whatever it holds.
//
// Rows are cut out of the stream by jsonscan, which checks the grammar and
// builds nothing: callers read the fields they need straight off the
// bytes (bench: pendo_decode_ratio).
func (c *Client) aggregate(ctx context.Context, pipeline []Step, next func(row jsonscan.Value) error) error {
	const path = "/api/v1/aggregation"
	body := map[string]any{
		"response": map[string]string{"mimeType": "application/json"},
		"request":  map[string]any{"pipeline": pipeline},
	}
	// Aggregations only read, so a lost response is safe to retry.
	resp, err := c.sendTo(ctx, request{host: c.baseURL, key: c.key, method: "POST", path: path, endpoint: "aggregation", body: body, idempotent: true, aggregation: true})
	if err != nil {
		return err
	}
	defer resp.Close()
	rd := jsonscan.NewReader(resp.Body, int(min(c.maxRow, math.MaxInt32)))
	if err := seekResults(rd); err != nil {
		return fmt.Errorf("pendo: POST %s: decode response: %w", path, cut(err))
	}
	for {
		more, err := rd.More()
		if err != nil {
			return fmt.Errorf("pendo: POST %s: decode row: %w", path, cut(err))
		}
		if !more {
			break
		}
		row, err := rd.Doc()
		if err != nil {
			return fmt.Errorf("pendo: POST %s: decode row: %w", path, cut(err))
		}
		if err := next(row); err != nil {
			return err
		}
	}
	if err := endResults(rd); err != nil {
		return fmt.Errorf("pendo: POST %s: decode response: %w", path, cut(err))
	}
	return nil
}

// CutError is an aggregation answer that stopped early (the body ended
// or the connection failed between or inside rows): every row before it
// was whole, so a pager asks again from the last one.
type CutError struct{ Err error }

func (e *CutError) Error() string { return "the answer was cut short: " + e.Err.Error() }
func (e *CutError) Unwrap() error { return e.Err }

// cut marks err as a CutError when it is the stream failing (the body
// ended early, the connection broke), not its content: JSON that is not
// JSON, an answer of another shape, or a row or body over its limit would
// come back the same when asked again.
func cut(err error) error {
	var se *jsonscan.SyntaxError
	var ne net.Error
	switch {
	case errors.As(err, &se), errors.Is(err, jsonscan.ErrTooLarge), errors.Is(err, wire.ErrTooLarge), errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.As(err, &ne),
		errors.Is(err, context.DeadlineExceeded): // one attempt's timeout; resume checks the caller's
		return &CutError{Err: err}
	}
	return err
}

// resume decides whether a pager asks again after err: a cut answer,
// within the retries; it sleeps the backoff first. attempt counts the
// cuts in a row.
func (c *Client) resume(ctx context.Context, err error, attempt *int, what string) bool {
	var ce *CutError
	if !errors.As(err, &ce) || *attempt >= c.maxRetries || ctx.Err() != nil {
		return false
	}
	wait := backoff.Delay(*attempt, c.retryBase)
	*attempt++
	c.log.Warn("pendo: answer cut short; asking again from the last row read", "read", what, "error", ce.Err, "wait", wait.Round(time.Millisecond), "attempt", *attempt+1, "of", c.maxRetries+1)
	return backoff.Sleep(ctx, wait) == nil
}

// seekResults advances rd into the top-level "results" array, skipping
// other members.
func seekResults(rd *jsonscan.Reader) error {
	if err := rd.Enter('{'); err != nil {
		return fmt.Errorf("expected a JSON object: %w", err)
	}
	for {
		more, err := rd.More()
		if err != nil {
			return err
		}
		if !more {
			return fmt.Errorf("no results array in response")
		}
		key, err := rd.Key()
		if err != nil {
			return err
		}
		if string(key) == "results" {
			if err := rd.Enter('['); err != nil {
				return fmt.Errorf("results is not an array: %w", err)
			}
			return nil
		}
		if err := rd.Skip(); err != nil {
			return err
		}
	}
}

// endResults checks, after the results array, that the object ends the
// body (other members may follow the array).
func endResults(rd *jsonscan.Reader) error {
	for {
		more, err := rd.More()
		if err != nil {
			return fmt.Errorf("the answer does not end (the body was cut short?): %w", err)
		}
		if !more {
			break
		}
		if _, err := rd.Key(); err != nil {
			return err
		}
		if err := rd.Skip(); err != nil {
			return err
		}
	}
	if err := rd.End(); err != nil {
		return fmt.Errorf("more after the answer: %w", err)
	}
	return nil
}

// Quote renders s as a string literal of Pendo's filter language, escaping
// backslashes and double quotes (unescaped ones make Pendo answer 400).
func Quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Entity is a visitor or an account row as it streams. It aliases the
// read buffer: valid only during the callback that receives it.
type Entity struct {
	ID string
	// Metadata is the row's metadata object: groups (agent, auto,
	// custom, …) of fields. The zero Value when the row has none.
	Metadata jsonscan.Value
}

// Fields calls fn for each metadata field of the row, group by group, in
// the order of the answer (nulls included). A group that is not an object
// has no fields.
func (e *Entity) Fields(fn func(group, field []byte, value jsonscan.Value) error) error {
	return e.Groups(func(group []byte, fields jsonscan.Value) error {
		if fields.Kind() != jsonscan.Object {
			return nil
		}
		return fields.Members(func(field []byte, value jsonscan.Value) error { return fn(group, field, value) })
	})
}

// Groups calls fn for each metadata group of the row.
func (e *Entity) Groups(fn func(group []byte, fields jsonscan.Value) error) error {
	if e.Metadata.Kind() != jsonscan.Object {
		return nil
	}
	return e.Metadata.Members(fn)
}

// ListOptions select visitors or accounts.
type ListOptions struct {
	// IncludeAnonymous keeps anonymous (_PENDO_T_…) visitors.
	IncludeAnonymous bool
	// PageSize is rows per aggregation call; default 10,000.
	PageSize int
	// UpdatedSince keeps rows whose metadata.auto.lastupdated is at or
	// after it; zero keeps all.
	UpdatedSince time.Time
	// Segment keeps the members of a segment, and reads their ids only.
	Segment string
}

// Visitors pages through every visitor in id order, calling fn per row.
func (c *Client) Visitors(ctx context.Context, opts ListOptions, fn func(*Entity) error) error {
	return c.listEntities(ctx, "visitors", "visitorId", opts, fn)
}

// Accounts pages through every account in id order, calling fn per row.
func (c *Client) Accounts(ctx context.Context, opts ListOptions, fn func(*Entity) error) error {
	return c.listEntities(ctx, "accounts", "accountId", opts, fn)
}

// listEntities pages with a keyset on the id: sort by id, filter id >
// last, limit. Ids are unique, so the boundary has no ties. Rows reach fn one
// at a time while the response streams, so memory does not grow with the
// page size.
func (c *Client) listEntities(ctx context.Context, source, idField string, opts ListOptions, fn func(*Entity) error) error {
	size := opts.PageSize
	if size == 0 {
		size = 10_000
	}
	last := ""
	cuts := 0
	for pages := 1; ; pages++ {
		if pages > c.maxPages {
			return fmt.Errorf("pendo: %s: more than %d pages", source, c.maxPages)
		}
		pipeline := []Step{{"source": map[string]any{source: nil}}}
		if !opts.IncludeAnonymous && source == "visitors" {
			pipeline = append(pipeline, Step{"identified": idField})
		}
		if opts.Segment != "" {
			pipeline = append(pipeline, Step{"segment": map[string]string{"id": opts.Segment}}, Step{"select": map[string]string{idField: idField}})
		}
		if !opts.UpdatedSince.IsZero() {
			pipeline = append(pipeline, Step{"filter": fmt.Sprintf("metadata.auto.lastupdated >= %d", opts.UpdatedSince.UnixMilli())})
		}
		if last != "" {
			pipeline = append(pipeline, Step{"filter": idField + " > " + Quote(last)})
		}
		pipeline = append(pipeline, Step{"sort": []string{idField}}, Step{"limit": size})

		n := 0
		var e Entity
		err := c.aggregate(ctx, pipeline, func(row jsonscan.Value) error {
			var id []byte
			e.Metadata = jsonscan.Value{}
			err := row.Members(func(key []byte, value jsonscan.Value) error {
				switch string(key) {
				case idField:
					if value.Kind() != jsonscan.String {
						return fmt.Errorf("pendo: %s row: %s is %s, not a string", source, idField, value.Kind())
					}
					id = value.Text(id[:0])
				case "metadata":
					e.Metadata = value
				}
				return nil
			})
			if err != nil {
				return err
			}
			if len(id) == 0 {
				return fmt.Errorf("pendo: %s row without %s", source, idField)
			}
			if string(id) <= last {
				return fmt.Errorf("pendo: %s paging did not advance past %s", source, strconv.Quote(last))
			}
			if n++; n > size {
				return fmt.Errorf("pendo: %s: more than the %d rows asked for in one page", source, size)
			}
			e.ID = string(id)
			last = e.ID
			return fn(&e)
		})
		if err != nil && c.resume(ctx, err, &cuts, source) {
			continue // from the row after last: nothing read twice
		}
		if err != nil {
			return err
		}
		cuts = 0
		if n < size {
			return nil
		}
	}
}
