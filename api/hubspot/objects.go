package hubspot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Object is one CRM record. Properties maps a property name to its value;
// a nil value means the property was requested and is unset (HubSpot sends
// null or leaves it out, and both read back as nil).
type Object struct {
	ID         string             `json:"id"`
	Properties map[string]*string `json:"properties"`
	CreatedAt  time.Time          `json:"createdAt"`
	UpdatedAt  time.Time          `json:"updatedAt"`
	Archived   bool               `json:"archived"`
	// New is set on upsert results: true when the record was created.
	New bool `json:"new"`
	// ObjectWriteTraceID echoes the trace id of the input that wrote it.
	ObjectWriteTraceID string `json:"objectWriteTraceId"`
	// History holds, for the properties a read asked the history of
	// (ReadOptions.History), every value the property took, newest first.
	History map[string][]PropertyVersion `json:"propertiesWithHistory"`
}

// PropertyVersion is one value a property took, and who set it:
// SourceType is HubSpot's kind of change (CRM_UI, AUTOMATION_PLATFORM for
// a workflow, INTEGRATION for an app, IMPORT, …), SourceID which one.
type PropertyVersion struct {
	Value           string    `json:"value"`
	Timestamp       time.Time `json:"timestamp"`
	SourceType      string    `json:"sourceType"`
	SourceID        string    `json:"sourceId"`
	SourceLabel     string    `json:"sourceLabel"`
	UpdatedByUserID int64     `json:"updatedByUserId"`
}

// MaxHistoryBatch is the most records a read with property history takes.
const MaxHistoryBatch = 50

// Property returns a property's value, "" when unset.
func (o *Object) Property(name string) string {
	if v := o.Properties[name]; v != nil {
		return *v
	}
	return ""
}

// ListOptions select what a list call returns.
type ListOptions struct {
	// Properties to return; empty returns HubSpot's defaults for the type.
	Properties []string
	// Archived lists only archived records (HubSpot's semantics).
	Archived bool
	// PageSize is records per call, 1–100. Default 100, HubSpot's maximum.
	PageSize int
}

const (
	// maxListPageSize is HubSpot's cap on list pages.
	maxListPageSize = 100
	// MaxBatch is HubSpot's limit on inputs per batch call.
	MaxBatch = 100
	// maxPropertyQuery bounds the properties query parameter: HubSpot
	// answers 414 past roughly 16 k characters of URL.
	maxPropertyQuery = 12_000
)

// ListPage fetches one page of records of objectType after the given paging
// cursor ("" for the first page). The returned cursor is "" on the last
// page. When the property list would make the URL too long, the page is
// listed with the properties that fit and the rest are read in one batch
// read for the page's ids.
func (c *Client) ListPage(ctx context.Context, objectType string, opts ListOptions, after string) ([]Object, string, error) {
	page, next, err := c.listPage(ctx, objectType, opts, after, nil)
	if err != nil {
		return nil, "", err
	}
	return page.Objects(), next, nil
}

// listPage is ListPage, as a Page sized after hint (the previous page, or
// nil).
func (c *Client) listPage(ctx context.Context, objectType string, opts ListOptions, after string, hint *Page) (*Page, string, error) {
	size := opts.PageSize
	if size == 0 {
		size = maxListPageSize
	}
	if size < 1 || size > maxListPageSize {
		return nil, "", fmt.Errorf("hubspot: list %s: page size %d outside 1–%d", objectType, size, maxListPageSize)
	}
	inURL, rest := splitProperties(opts.Properties, maxPropertyQuery)
	q := url.Values{"limit": {strconv.Itoa(size)}}
	if len(inURL) > 0 {
		q.Set("properties", strings.Join(inURL, ","))
	}
	if opts.Archived {
		q.Set("archived", "true")
	}
	if after != "" {
		q.Set("after", after)
	}
	ans := &pageAnswer{page: newPage(slices.Clone(opts.Properties), hint)}
	if err := c.do(ctx, call{method: "GET", path: c.objectsPath(objectType), query: q, out: ans, idempotent: true}); err != nil {
		return nil, "", err
	}
	if err := checkPage(ans, after, size); err != nil {
		return nil, "", fmt.Errorf("hubspot: list %s: %w", objectType, err)
	}
	page := ans.page
	if len(rest) > 0 && page.Len() > 0 {
		objs := page.Objects()
		if err := c.fillProperties(ctx, objectType, objs, rest, opts.Archived); err != nil {
			return nil, "", err
		}
		page = pageOf(page.Properties(), objs)
	}
	return page, ans.next, nil
}

// ErrBadPage is wrapped by the errors of pages that contradict themselves
// or what was asked: backflow stops reading rather than store a partial
// read as the whole.
var ErrBadPage = errors.New("the page contradicts itself or the request")

// checkPage checks one page of a listing or a search against what was
// asked: results present (null or absent is not an empty page), at most
// limit of them, each with an id, and a next cursor only after a non-empty
// page, never the cursor just used.
func checkPage(a *pageAnswer, after string, limit int) error {
	n, next := a.page.Len(), a.next
	switch {
	case !a.hasResults:
		return fmt.Errorf("%w: no results array (null or absent) in a 2xx answer", ErrBadPage)
	case n > limit:
		return fmt.Errorf("%w: %d results for a limit of %d", ErrBadPage, n, limit)
	case n == 0 && next != "":
		return fmt.Errorf("%w: an empty page with a next cursor %q", ErrBadPage, next)
	case next != "" && next == after:
		return fmt.Errorf("%w: the next cursor %q is the one just used", ErrBadPage, after)
	}
	for i := range n {
		if a.page.ID(i) == "" {
			return fmt.Errorf("%w: result %d has no id", ErrBadPage, i)
		}
	}
	return nil
}

// pager guards one listing's cursors: none may come back, and the pages
// are bounded.
type pager struct {
	seen  map[string]bool
	pages int
	max   int
	// first and last ids of the previous page, to spot a page served again
	// under a new cursor.
	prevFirst, prevLast string
}

func newPager(max int) *pager { return &pager{seen: map[string]bool{}, max: max} }

// next records a page and the cursor it gave.
func (p *pager) next(page *Page, cursor string) error {
	p.pages++
	if p.pages > p.max {
		return fmt.Errorf("%w: more than %d pages; a cursor that never ends", ErrBadPage, p.max)
	}
	if page.Len() > 0 {
		first, last := page.ID(0), page.ID(page.Len()-1)
		if p.pages > 1 && first == p.prevFirst && last == p.prevLast {
			return fmt.Errorf("%w: page %d repeats page %d (ids %s…%s)", ErrBadPage, p.pages, p.pages-1, first, last)
		}
		p.prevFirst, p.prevLast = first, last
	}
	if cursor == "" {
		return nil
	}
	if p.seen[cursor] {
		return fmt.Errorf("%w: the cursor %q came back after %d pages: the pages go round in a cycle", ErrBadPage, cursor, p.pages)
	}
	p.seen[cursor] = true
	return nil
}

type paging struct {
	Next *struct {
		After string `json:"after"`
	} `json:"next"`
}

func (p *paging) nextAfter() string {
	if p == nil || p.Next == nil {
		return ""
	}
	return p.Next.After
}

// splitProperties keeps the properties whose comma-joined length fits in
// limit and returns the others.
func splitProperties(props []string, limit int) (fit, rest []string) {
	n := 0
	for i, p := range props {
		if n+len(p)+1 > limit {
			return props[:i], props[i:]
		}
		n += len(p) + 1
	}
	return props, nil
}

// fillProperties reads more properties for listed records with batch read
// (a POST body has no length limit) and merges them in.
func (c *Client) fillProperties(ctx context.Context, objectType string, objs []Object, props []string, archived bool) error {
	ids := make([]string, len(objs))
	for i, o := range objs {
		ids[i] = o.ID
	}
	more, _, err := c.BatchRead(ctx, objectType, ids, ReadOptions{Properties: props, Archived: archived})
	if err != nil {
		return err
	}
	byID := make(map[string]Object, len(more))
	for _, o := range more {
		byID[o.ID] = o
	}
	for i := range objs {
		m, ok := byID[objs[i].ID]
		if !ok {
			continue // archived between the two calls; the listed part stands
		}
		for _, p := range props {
			objs[i].Properties[p] = m.Properties[p]
		}
	}
	return nil
}

// List pages through every record of objectType, calling fn once per page
// in order (see ListPages).
func (c *Client) List(ctx context.Context, objectType string, opts ListOptions, fn func([]Object) error) error {
	return c.ListPages(ctx, objectType, opts, func(p *Page) error { return fn(p.Objects()) })
}

// ListPages pages through every record of objectType, calling fn once per
// page in order. The next page is fetched and decoded while fn handles the
// current one, so decoding and the caller's work overlap; requests stay
// sequential, since each needs the previous cursor. It stops at the first
// error, fn's included. A page is fn's to keep.
func (c *Client) ListPages(ctx context.Context, objectType string, opts ListOptions, fn func(*Page) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		page *Page
		err  error
	}
	pages := make(chan result, 1)
	go func() {
		defer close(pages)
		after := ""
		guard := newPager(c.maxPages)
		var hint *Page
		for {
			page, next, err := c.listPage(ctx, objectType, opts, after, hint)
			hint = page
			if err == nil {
				if err = guard.next(page, next); err != nil {
					err = fmt.Errorf("hubspot: list %s: %w", objectType, err)
				}
			}
			select {
			case pages <- result{page, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || next == "" {
				return
			}
			after = next
		}
	}()
	for p := range pages {
		if p.err != nil {
			return p.err
		}
		if err := fn(p.page); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Get reads one record by id, or by a unique property when idProperty is
// set. A missing record is an *Error with Status 404.
func (c *Client) Get(ctx context.Context, objectType, id, idProperty string, properties []string) (*Object, error) {
	q := url.Values{}
	if len(properties) > 0 {
		q.Set("properties", strings.Join(properties, ","))
	}
	if idProperty != "" {
		q.Set("idProperty", idProperty)
	}
	var o Object
	if err := c.do(ctx, call{method: "GET", path: c.objectsPath(objectType) + "/" + url.PathEscape(id), query: q, out: &o, idempotent: true}); err != nil {
		return nil, err
	}
	return &o, nil
}

// Create creates one record, optionally associated to others.
func (c *Client) Create(ctx context.Context, objectType string, props map[string]string, assoc []Association) (*Object, error) {
	var o Object
	body := map[string]any{"properties": props, "associations": assocSpecs(assoc)}
	if err := c.do(ctx, call{method: "POST", path: c.objectsPath(objectType), body: body, out: &o}); err != nil {
		return nil, err
	}
	return &o, nil
}

// Update changes one record's properties; "" clears a value.
func (c *Client) Update(ctx context.Context, objectType, id, idProperty string, props map[string]string) (*Object, error) {
	q := url.Values{}
	if idProperty != "" {
		q.Set("idProperty", idProperty)
	}
	var o Object
	if err := c.do(ctx, call{method: "PATCH", path: c.objectsPath(objectType) + "/" + url.PathEscape(id), query: q,
		body: map[string]any{"properties": props}, out: &o, idempotent: true}); err != nil {
		return nil, err
	}
	return &o, nil
}

// Archive archives one record. A missing id is not an error (HubSpot
// answers 204 either way).
func (c *Client) Archive(ctx context.Context, objectType, id string) error {
	return c.do(ctx, call{method: "DELETE", path: c.objectsPath(objectType) + "/" + url.PathEscape(id), idempotent: true})
}

// Association links a new record to an existing one at creation.
type Association struct {
	ToID   string
	TypeID int // HubSpot's association type id, e.g. 204 task→contact
	// Category defaults to HUBSPOT_DEFINED.
	Category string
}

func assocSpecs(assoc []Association) []map[string]any {
	out := []map[string]any{}
	for _, a := range assoc {
		cat := a.Category
		if cat == "" {
			cat = "HUBSPOT_DEFINED"
		}
		out = append(out, map[string]any{
			"to":    map[string]string{"id": a.ToID},
			"types": []map[string]any{{"associationCategory": cat, "associationTypeId": a.TypeID}},
		})
	}
	return out
}

// ReadOptions select what a batch read returns.
type ReadOptions struct {
	Properties []string
	// IDProperty reads by a unique property (email, or a hasUniqueValue
	// property) instead of the record id.
	IDProperty string
	Archived   bool
	// History asks for every value these properties took (at most
	// MaxHistoryBatch records per call).
	History []string
}

// BatchRead reads up to 100 records by id (or IDProperty value). It
// returns the records found and the ids HubSpot reported missing.
func (c *Client) BatchRead(ctx context.Context, objectType string, ids []string, opts ReadOptions) ([]Object, []string, error) {
	if limit := batchReadLimit(opts); len(ids) > limit {
		return nil, nil, fmt.Errorf("hubspot: batch read %s: %d ids, at most %d per call", objectType, len(ids), limit)
	}
	inputs := make([]map[string]string, len(ids))
	for i, id := range ids {
		inputs[i] = map[string]string{"id": id}
	}
	body := map[string]any{"inputs": inputs, "properties": orEmpty(opts.Properties), "propertiesWithHistory": orEmpty(opts.History)}
	if opts.IDProperty != "" {
		body["idProperty"] = opts.IDProperty
	}
	q := url.Values{}
	if opts.Archived {
		q.Set("archived", "true")
	}
	var resp batchResponse
	if err := c.do(ctx, call{method: "POST", path: c.objectsPath(objectType) + "/batch/read", query: q, body: body, out: &resp, idempotent: true}); err != nil {
		return nil, nil, err
	}
	var missing []string
	for _, e := range resp.Errors {
		if e.Category != "OBJECT_NOT_FOUND" {
			return resp.Results, missing, fmt.Errorf("hubspot: batch read %s: %s: %s", objectType, e.Category, e.Message)
		}
		missing = append(missing, e.Context["ids"]...)
	}
	return resp.Results, missing, nil
}

func batchReadLimit(opts ReadOptions) int {
	if len(opts.History) > 0 {
		return MaxHistoryBatch
	}
	return MaxBatch
}

// ReadHistory reads the history of properties of records by id,
// MaxHistoryBatch per call, and checks each answer against what was
// asked: no record that was not asked for, none twice. Records HubSpot
// reports missing are absent from the result.
func (c *Client) ReadHistory(ctx context.Context, objectType string, ids, properties []string) (map[string]map[string][]PropertyVersion, error) {
	out := map[string]map[string][]PropertyVersion{}
	for start := 0; start < len(ids); start += MaxHistoryBatch {
		chunk := ids[start:min(start+MaxHistoryBatch, len(ids))]
		objs, miss, err := c.BatchRead(ctx, objectType, chunk, ReadOptions{Properties: properties, History: properties})
		if err != nil {
			return nil, err
		}
		if err := answered(objectType, chunk, objs, miss); err != nil {
			return nil, err
		}
		for _, o := range objs {
			out[o.ID] = o.History
		}
	}
	return out, nil
}

// answered checks a batch read's answer against the ids asked: each
// returned or reported missing, once, and nothing else.
func answered(objectType string, chunk []string, objs []Object, miss []string) error {
	asked := make(map[string]bool, len(chunk))
	for _, id := range chunk {
		asked[id] = true
	}
	for _, o := range objs {
		if !asked[o.ID] {
			return fmt.Errorf("hubspot: batch read %s: %w: record %s was not asked for, or came twice", objectType, ErrBadPage, o.ID)
		}
		delete(asked, o.ID)
	}
	for _, id := range miss {
		if !asked[id] {
			return fmt.Errorf("hubspot: batch read %s: %w: %s reported missing but not asked for, or also returned", objectType, ErrBadPage, id)
		}
		delete(asked, id)
	}
	if len(asked) > 0 {
		return fmt.Errorf("hubspot: batch read %s: %w: %d ids neither returned nor reported missing", objectType, ErrBadPage, len(asked))
	}
	return nil
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// batchResponse is HubSpot's batch envelope.
type batchResponse struct {
	Status    string          `json:"status"`
	Results   []Object        `json:"results"`
	NumErrors int             `json:"numErrors"`
	Errors    []StandardError `json:"errors"`
}

// StandardError is one entry of a batch response's errors.
type StandardError struct {
	Status      string              `json:"status"`
	Category    string              `json:"category"`
	SubCategory string              `json:"subCategory"`
	Message     string              `json:"message"`
	Context     map[string][]string `json:"context"`
	Errors      []ErrorDetail       `json:"errors"`
}

// Input is one record of a batch write.
type Input struct {
	// ID identifies the record for update and upsert: a record id, or a
	// value of IDProperty.
	ID string
	// IDProperty names the unique property ID holds (required for upsert).
	IDProperty string
	Properties map[string]string
	// Associations link a created record to existing ones (create only).
	Associations []Association
}

// Result is the outcome of one input of a batch write: Object on success,
// Err otherwise.
type Result struct {
	Object *Object
	Err    *RowError
}

// RowError is why one input of a batch failed.
type RowError struct {
	Index    int    // the input's position in the call
	ID       string // the input's id, if it had one
	Status   int    // the HTTP status that carried it (207 inside a batch)
	Category string // VALIDATION_ERROR, OBJECT_NOT_FOUND, CONFLICT, …
	Message  string
}

func (e *RowError) Error() string {
	id := ""
	if e.ID != "" {
		id = fmt.Sprintf(" (id %s)", e.ID)
	}
	return fmt.Sprintf("row %d%s: %s: %s", e.Index, id, e.Category, e.Message)
}

// NotFound reports whether the record did not exist.
func (e *RowError) NotFound() bool { return e.Category == "OBJECT_NOT_FOUND" }

// BatchCreate creates up to 100 records. See batchWrite for how results
// map to inputs.
func (c *Client) BatchCreate(ctx context.Context, objectType string, inputs []Input) ([]Result, error) {
	return c.batchWrite(ctx, objectType, "create", inputs)
}

// BatchUpdate updates up to 100 records by id or IDProperty; a missing
// record is a RowError with category OBJECT_NOT_FOUND.
func (c *Client) BatchUpdate(ctx context.Context, objectType string, inputs []Input) ([]Result, error) {
	return c.batchWrite(ctx, objectType, "update", inputs)
}

// BatchUpsert creates or updates up to 100 records keyed on a unique
// property (Input.IDProperty: email, or a hasUniqueValue property; never
// hs_object_id). Result.Object.New tells creations from updates.
func (c *Client) BatchUpsert(ctx context.Context, objectType string, inputs []Input) ([]Result, error) {
	for i, in := range inputs {
		if in.IDProperty == "" || in.IDProperty == "hs_object_id" {
			return nil, fmt.Errorf("hubspot: batch upsert %s: input %d: idProperty must name a unique value property, not %q", objectType, i, in.IDProperty)
		}
	}
	return c.batchWrite(ctx, objectType, "upsert", inputs)
}

// BatchArchive archives up to 100 records; missing ids are not errors.
func (c *Client) BatchArchive(ctx context.Context, objectType string, ids []string) error {
	if len(ids) > MaxBatch {
		return fmt.Errorf("hubspot: batch archive %s: %d ids, at most %d per call", objectType, len(ids), MaxBatch)
	}
	inputs := make([]map[string]string, len(ids))
	for i, id := range ids {
		inputs[i] = map[string]string{"id": id}
	}
	return c.do(ctx, call{method: "POST", path: c.objectsPath(objectType) + "/batch/archive", body: map[string]any{"inputs": inputs}, idempotent: true})
}

// batchWrite sends one batch write and reconciles HubSpot's answer per
// input. Every input carries its position as objectWriteTraceId, so
// results and errors map back through the echo and through context
// (objectWriteTraceId, ids), never by position: HubSpot does not keep
// input order. When HubSpot refuses the whole batch (400 or 409, because
// one input is bad), the batch is split in halves until the bad inputs are
// isolated and reported; the good ones still go through. The returned
// slice has one Result per input, in input order. An error means the
// batch's fate is unknown.
func (c *Client) batchWrite(ctx context.Context, objectType, op string, inputs []Input) ([]Result, error) {
	if len(inputs) > MaxBatch {
		return nil, fmt.Errorf("hubspot: batch %s %s: %d inputs, at most %d per call", op, objectType, len(inputs), MaxBatch)
	}
	out := make([]Result, len(inputs))
	if len(inputs) == 0 {
		return out, nil
	}
	err := c.batchWriteInto(ctx, objectType, op, inputs, 0, out)
	return out, err
}

func (c *Client) batchWriteInto(ctx context.Context, objectType, op string, inputs []Input, offset int, out []Result) error {
	body := make([]map[string]any, len(inputs))
	for i, in := range inputs {
		m := map[string]any{"properties": orEmptyMap(in.Properties), "objectWriteTraceId": strconv.Itoa(offset + i)}
		switch op {
		case "create":
			m["associations"] = assocSpecs(in.Associations)
		default:
			m["id"] = in.ID
			if in.IDProperty != "" {
				m["idProperty"] = in.IDProperty
			}
		}
		body[i] = m
	}
	var resp batchResponse
	var status int
	err := c.do(ctx, call{method: "POST", path: c.objectsPath(objectType) + "/batch/" + op,
		body: map[string]any{"inputs": body}, out: &resp, idempotent: op != "create", status: &status})
	var apiErr *Error
	// Only HubSpot's own refusals (its error JSON, with a category) are
	// about the inputs; a gateway's 400 page is not split row by row.
	if errors.As(err, &apiErr) && (apiErr.Status == http.StatusBadRequest || apiErr.Status == http.StatusConflict) && apiErr.Category != "" {
		if len(inputs) == 1 {
			out[offset] = Result{Err: &RowError{Index: offset, ID: inputs[0].ID, Status: apiErr.Status, Category: apiErr.Category, Message: apiErr.Message}}
			return nil
		}
		mid := len(inputs) / 2
		if err := c.batchWriteInto(ctx, objectType, op, inputs[:mid], offset, out); err != nil {
			return err
		}
		return c.batchWriteInto(ctx, objectType, op, inputs[mid:], offset+mid, out)
	}
	if err != nil {
		return err
	}
	done := make([]bool, len(inputs))
	byID := map[string][]int{}
	for i, in := range inputs {
		byID[in.ID] = append(byID[in.ID], i)
		if in.IDProperty == "email" {
			byID[strings.ToLower(in.ID)] = append(byID[strings.ToLower(in.ID)], i)
		}
	}
	for k := range resp.Results {
		o := &resp.Results[k]
		i, ok := traceIndex(o.ObjectWriteTraceID, offset, len(inputs))
		if !ok {
			// No echo: match by id, or by the upsert key's value.
			i = -1
			for _, j := range append(byID[o.ID], byID[strings.ToLower(inputKeyValue(o, inputs))]...) {
				if !done[j] {
					i = j
					break
				}
			}
			if i < 0 {
				continue
			}
		}
		out[offset+i] = Result{Object: o}
		done[i] = true
	}
	for _, e := range resp.Errors {
		var idxs []int
		for _, t := range e.Context["objectWriteTraceId"] {
			if i, ok := traceIndex(t, offset, len(inputs)); ok {
				idxs = append(idxs, i)
			}
		}
		if len(idxs) == 0 {
			for _, id := range e.Context["ids"] {
				idxs = append(idxs, byID[id]...)
			}
		}
		for _, i := range idxs {
			out[offset+i] = Result{Err: &RowError{Index: offset + i, ID: inputs[i].ID, Status: status, Category: e.Category, Message: e.Message}}
			done[i] = true
		}
	}
	for i := range inputs {
		if !done[i] {
			out[offset+i] = Result{Err: &RowError{Index: offset + i, ID: inputs[i].ID, Status: status, Category: "UNRECONCILED",
				Message: fmt.Sprintf("HubSpot's %d answer named neither a result nor an error for this input", status)}}
		}
	}
	return nil
}

// inputKeyValue finds, for an upsert result without a trace id, the value
// of any input's idProperty on the returned record.
func inputKeyValue(o *Object, inputs []Input) string {
	for _, in := range inputs {
		if in.IDProperty != "" {
			if v := o.Property(in.IDProperty); v != "" {
				return v
			}
		}
	}
	return ""
}

func traceIndex(trace string, offset, n int) (int, bool) {
	t, err := strconv.Atoi(trace)
	if err != nil || t < offset || t >= offset+n {
		return 0, false
	}
	return t - offset, true
}

func orEmptyMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// defaultAssociationTypes are HubSpot's unlabelled association type ids
// (HUBSPOT_DEFINED) between standard objects, from → to.
var defaultAssociationTypes = map[[2]string]int{
	{"contacts", "companies"}: 279, {"companies", "contacts"}: 280,
	{"deals", "contacts"}: 3, {"contacts", "deals"}: 4,
	{"deals", "companies"}: 341, {"companies", "deals"}: 342,
	{"tickets", "contacts"}: 16, {"contacts", "tickets"}: 15,
	{"tickets", "companies"}: 339, {"companies", "tickets"}: 340,
	{"deals", "tickets"}: 27, {"tickets", "deals"}: 28,
	{"tasks", "contacts"}: 204, {"contacts", "tasks"}: 203,
	{"tasks", "companies"}: 192, {"companies", "tasks"}: 191,
	{"tasks", "deals"}: 216, {"deals", "tasks"}: 215,
}

// DefaultAssociationType returns HubSpot's unlabelled association type id
// from one standard object type to another.
func DefaultAssociationType(from, to string) (int, bool) {
	id, ok := defaultAssociationTypes[[2]string{from, to}]
	return id, ok
}

// StandardObjects are the CRM object types backflow addresses by name;
// a custom object is addressed by its objectTypeId (2-…).
func StandardObjects() []string {
	return []string{"contacts", "companies", "deals", "tickets", "tasks"}
}

// IsStandardObject reports one of StandardObjects.
func IsStandardObject(name string) bool { return slices.Contains(StandardObjects(), name) }

// ReadByIDPages reads the records of ids (any number, 100 per call) with
// properties, live ones first, then, of those HubSpot said are missing,
// the archived ones, and hands fn each answer as a Page. gone are the ids
// neither read found (deleted for good). Every answer must hold only ids
// asked for, each once, or it is refused.
func (c *Client) ReadByIDPages(ctx context.Context, objectType string, ids, properties []string, fn func(*Page) error) (gone []string, err error) {
	read := func(ids []string, archived bool) ([]string, error) {
		var missing []string
		for start := 0; start < len(ids); start += MaxBatch {
			chunk := ids[start:min(start+MaxBatch, len(ids))]
			objs, miss, err := c.BatchRead(ctx, objectType, chunk, ReadOptions{Properties: properties, Archived: archived})
			if err != nil {
				return nil, err
			}
			if err := answered(objectType, chunk, objs, miss); err != nil {
				return nil, err
			}
			missing = append(missing, miss...)
			if len(objs) > 0 {
				if err := fn(pageOf(properties, objs)); err != nil {
					return nil, err
				}
			}
		}
		return missing, nil
	}
	missing, err := read(ids, false)
	if err != nil || len(missing) == 0 {
		return nil, err
	}
	return read(missing, true)
}
