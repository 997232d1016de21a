package pendo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"strconv"
	"strings"

	gojson "github.com/goccy/go-json"

	"github.com/backflow-dev/backflow/api/wire"
)

// Step is one pipeline step of an aggregation, e.g.
// {"filter": "visitorId > \"x\""}.
type Step map[string]any

// Aggregate runs an aggregation pipeline and calls fn once per result row,
// decoding the response as a stream so that a response of millions of rows
// never sits in memory whole. fn's error stops the call.
func (c *Client) Aggregate(ctx context.Context, pipeline []Step, fn func(row json.RawMessage) error) error {
	return c.aggregate(ctx, pipeline, func(dec *gojson.Decoder) error {
		var row json.RawMessage
		if err := dec.Decode(&row); err != nil {
			return err
		}
		return fn(row)
	})
}

// aggregate runs a pipeline and calls next once per result row with the
// decoder positioned at the row, so that callers decode it in one pass.
// The answer must be one object whose "results" array is whole: a body
// cut between two rows is an error, not a shorter result. One row may not
// exceed MaxRow, so a stream's memory stays bounded whatever it holds.
//
// Decoding uses goccy/go-json, a drop-in streaming decoder about twice as
// fast as encoding/json on these rows (bench: pendo_decode_rows_per_s).
func (c *Client) aggregate(ctx context.Context, pipeline []Step, next func(dec *gojson.Decoder) error) error {
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
	rows := &rowBound{r: resp.Body, max: c.maxRow}
	dec := gojson.NewDecoder(rows)
	if err := seekResults(dec); err != nil {
		return fmt.Errorf("pendo: POST %s: decode response: %w", path, err)
	}
	for dec.More() {
		rows.mark()
		if err := next(dec); err != nil {
			var se *gojson.SyntaxError
			var te *gojson.UnmarshalTypeError
			if errors.As(err, &se) || errors.As(err, &te) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, errRowTooLarge) || errors.Is(err, wire.ErrTooLarge) {
				return fmt.Errorf("pendo: POST %s: decode row: %w", path, err)
			}
			return err
		}
	}
	if err := endResults(dec); err != nil {
		return fmt.Errorf("pendo: POST %s: decode response: %w", path, err)
	}
	return nil
}

// errRowTooLarge is the error of a row over MaxRow.
var errRowTooLarge = errors.New("a result row over the size limit")

// rowBound fails a read that takes one row (since mark) past max bytes.
// The decoder reads ahead, so the bound is approximate by its buffer.
type rowBound struct {
	r        io.Reader
	max, cur int64
}

func (b *rowBound) mark() { b.cur = 0 }

func (b *rowBound) Read(p []byte) (int, error) {
	if b.cur > b.max+1<<20 {
		return 0, fmt.Errorf("%w (%s)", errRowTooLarge, wire.Size(b.max))
	}
	n, err := b.r.Read(p)
	b.cur += int64(n)
	return n, err
}

// seekResults advances dec to the first element of the top-level
// "results" array, skipping other members.
func seekResults(dec *gojson.Decoder) error {
	if tok, err := dec.Token(); err != nil || tok != gojson.Delim('{') {
		return fmt.Errorf("expected a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if tok == "results" {
			if tok, err := dec.Token(); err != nil || tok != gojson.Delim('[') {
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

// endResults checks that the results array is closed and the object ends
// the body.
func endResults(dec *gojson.Decoder) error {
	if tok, err := dec.Token(); err != nil || tok != gojson.Delim(']') {
		return fmt.Errorf("the results array does not end (the body was cut short?)")
	}
	for dec.More() {
		if _, err := dec.Token(); err != nil {
			return err
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	if tok, err := dec.Token(); err != nil || tok != gojson.Delim('}') {
		return fmt.Errorf("the answer does not end (the body was cut short?)")
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("more after the answer")
	}
	return nil
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
	// UpdatedSince keeps rows whose metadata.auto.lastupdated is at or
	// after it; zero keeps all.
	UpdatedSince time.Time
}

// Visitors pages through every visitor in id order, calling fn per page.
func (c *Client) Visitors(ctx context.Context, opts ListOptions, fn func([]Entity) error) error {
	return c.listEntities(ctx, "visitors", "visitorId", opts, fn)
}

// Accounts pages through every account in id order, calling fn per page.
func (c *Client) Accounts(ctx context.Context, opts ListOptions, fn func([]Entity) error) error {
	return c.listEntities(ctx, "accounts", "accountId", opts, fn)
}

// listEntities pages with a keyset on the id: sort by id, filter id >
// last, limit. Ids are unique, so the boundary has no ties. Rows reach fn
// in chunks of at most chunkSize while the response streams, so memory
// does not grow with the page size.
func (c *Client) listEntities(ctx context.Context, source, idField string, opts ListOptions, fn func([]Entity) error) error {
	size := opts.PageSize
	if size == 0 {
		size = 10_000
	}
	last := ""
	for pages := 1; ; pages++ {
		if pages > c.maxPages {
			return fmt.Errorf("pendo: %s: more than %d pages", source, c.maxPages)
		}
		pipeline := []Step{{"source": map[string]any{source: nil}}}
		if !opts.IncludeAnonymous && source == "visitors" {
			pipeline = append(pipeline, Step{"identified": idField})
		}
		if !opts.UpdatedSince.IsZero() {
			pipeline = append(pipeline, Step{"filter": fmt.Sprintf("metadata.auto.lastupdated >= %d", opts.UpdatedSince.UnixMilli())})
		}
		if last != "" {
			pipeline = append(pipeline, Step{"filter": idField + " > " + Quote(last)})
		}
		pipeline = append(pipeline, Step{"sort": []string{idField}}, Step{"limit": size})

		n := 0
		chunk := make([]Entity, 0, chunkSize)
		flush := func() error {
			if len(chunk) == 0 {
				return nil
			}
			err := fn(chunk)
			chunk = make([]Entity, 0, chunkSize)
			return err
		}
		err := c.aggregate(ctx, pipeline, func(dec *gojson.Decoder) error {
			var r entityRow
			if err := dec.Decode(&r); err != nil {
				return fmt.Errorf("pendo: %s row: %w", source, err)
			}
			e := Entity{ID: r.VisitorID, Metadata: r.Metadata}
			if source == "accounts" {
				e.ID = r.AccountID
			}
			if e.ID == "" {
				return fmt.Errorf("pendo: %s row without %s", source, idField)
			}
			if e.ID <= last {
				return fmt.Errorf("pendo: %s paging did not advance past %s", source, strconv.Quote(last))
			}
			if n++; n > size {
				return fmt.Errorf("pendo: %s: more than the %d rows asked for in one page", source, size)
			}
			last = e.ID
			chunk = append(chunk, e)
			if len(chunk) == chunkSize {
				return flush()
			}
			return nil
		})
		if err == nil {
			err = flush()
		}
		if err != nil {
			return err
		}
		if n < size {
			return nil
		}
	}
}

// entityRow is a visitor or account row, decoded in one pass.
type entityRow struct {
	VisitorID string                                `json:"visitorId"`
	AccountID string                                `json:"accountId"`
	Metadata  map[string]map[string]json.RawMessage `json:"metadata"`
}

// chunkSize is how many rows reach a callback at once.
const chunkSize = 1000
