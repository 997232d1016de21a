package pendo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// MaxStringValue is the longest metadata string backflow sends, in
// characters. Pendo documents no limit; backflow takes HubSpot's (65,536)
// rather than send a 10 MB value into the unknown.
const MaxStringValue = 65_536

// Kind is a metadata kind.
type Kind string

const (
	Visitor Kind = "visitor"
	Account Kind = "account"
)

func (k Kind) idField() string {
	if k == Account {
		return "accountId"
	}
	return "visitorId"
}

// Field describes one metadata field.
type Field struct {
	Type        string `json:"Type"` // string, boolean, integer, float, time, list, ""
	DisplayName string `json:"DisplayName"`
	ElementType string `json:"ElementType"`
	IsDeleted   bool   `json:"isDeleted"`
}

// Schema maps group → field name → descriptor.
type Schema map[string]map[string]Field

// Schema reads the metadata schema of a kind.
func (c *Client) Schema(ctx context.Context, kind Kind) (Schema, error) {
	var s Schema
	path := "/api/v1/metadata/schema/" + url.PathEscape(string(kind))
	if err := c.call(ctx, "GET", path, "metadata/schema", nil, &s, true); err != nil {
		return nil, err
	}
	return s, nil
}

// Update is one row of a bulk metadata update: an id and the values to set
// (field name → JSON value; JSON null clears the field).
type Update struct {
	ID     string
	Values map[string]json.RawMessage
}

// Outcome is what happened to one Update.
type Outcome struct {
	Status OutcomeStatus
	Error  string // for Failed
}

// OutcomeStatus classifies one row of a bulk update.
type OutcomeStatus int

const (
	// Updated: Pendo applied the values.
	Updated OutcomeStatus = iota
	// Missing: no such visitor or account; nothing was created.
	Missing
	// Rejected: Pendo named the row in its errors; Error says why. The
	// same values would be refused again.
	Rejected
	// Failed: Pendo counted failures it did not attribute to rows; which
	// rows failed is unknown, so every unnamed row gets this status.
	Failed
)

// BulkResult is Pendo's answer to a bulk update. Total and Updated are
// pointers so that an answer without them is told from one with zeros.
type BulkResult struct {
	Total   *int              `json:"total"`
	Updated *int              `json:"updated"`
	Failed  int               `json:"failed"`
	Missing []string          `json:"missing"`
	Errors  []json.RawMessage `json:"errors"`
}

// ErrBadAnswer is wrapped by the error of a bulk update whose answer does
// not account for the batch: nothing in it is taken as written.
var ErrBadAnswer = errors.New("the answer does not account for the rows sent")

// check compares an answer with the batch: Pendo reports total =
// updated + failed over the rows sent, and lists only ids it was sent.
func (r BulkResult) check(updates []Update) error {
	if r.Total == nil || r.Updated == nil {
		return fmt.Errorf("%w: no total or updated count in the answer", ErrBadAnswer)
	}
	total, updated := *r.Total, *r.Updated
	switch {
	case total != len(updates):
		return fmt.Errorf("%w: total %d for %d rows sent", ErrBadAnswer, total, len(updates))
	case updated < 0 || r.Failed < 0 || updated+r.Failed != total:
		return fmt.Errorf("%w: updated %d + failed %d is not the total %d", ErrBadAnswer, updated, r.Failed, total)
	case len(r.Missing) > r.Failed:
		return fmt.Errorf("%w: %d ids missing but only %d failed", ErrBadAnswer, len(r.Missing), r.Failed)
	}
	sent := make(map[string]bool, len(updates))
	for _, u := range updates {
		sent[u.ID] = true
	}
	for _, id := range r.Missing {
		if !sent[id] {
			return fmt.Errorf("%w: id %q reported missing was not sent", ErrBadAnswer, id)
		}
	}
	return nil
}

// UpdateMetadata sets metadata values of one group (custom or agent) for a
// batch of visitors or accounts and reconciles Pendo's answer per row: the
// returned slice has one Outcome per update, in order. ids listed in
// `missing` are Missing. An error entry is matched to its row by the id it
// names (Rejected); when Pendo reports more failures than it names, every row it did
// not name as missing is marked Failed, since which ones failed is
// unknowable, and a retry of an idempotent update is harmless. create=true
// makes Pendo create unknown ids; a sync must ask for it explicitly.
func (c *Client) UpdateMetadata(ctx context.Context, kind Kind, group string, updates []Update, create bool) ([]Outcome, error) {
	path := fmt.Sprintf("/api/v1/metadata/%s/%s/value", url.PathEscape(string(kind)), url.PathEscape(group))
	if create {
		path += "?create=true"
	}
	body := make([]map[string]any, len(updates))
	for i, u := range updates {
		body[i] = map[string]any{kind.idField(): u.ID, "values": u.Values}
	}
	var res BulkResult
	endpoint := "metadata/" + string(kind) + "/" + group + "/value"
	// Setting values is idempotent, so a lost response is safe to retry.
	err := c.call(ctx, "POST", path, endpoint, body, &res, true)
	var apiErr *Error
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusRequestTimeout && len(updates) > 1 {
		// Past Pendo's 5-minute limit nothing was applied: halve and resend.
		mid := len(updates) / 2
		left, err := c.UpdateMetadata(ctx, kind, group, updates[:mid], create)
		if err != nil {
			return nil, err
		}
		right, err := c.UpdateMetadata(ctx, kind, group, updates[mid:], create)
		if err != nil {
			return nil, err
		}
		return append(left, right...), nil
	}
	if err != nil {
		return nil, err
	}
	if err := res.check(updates); err != nil {
		return nil, fmt.Errorf("pendo: POST %s: %w", path, err)
	}
	return reconcile(updates, res), nil
}

// CreateField declares a metadata field in the custom group (Pendo's Data
// Mappings). Pendo does not document the body; backflow sends
// {"name", "type", "displayName"}.
func (c *Client) CreateField(ctx context.Context, kind Kind, name, typ, displayName string) error {
	path := fmt.Sprintf("/api/v1/metadata/schema/%s/custom", url.PathEscape(string(kind)))
	return c.call(ctx, "POST", path, "metadata/schema/field", map[string]string{"name": name, "type": typ, "displayName": displayName}, nil, false)
}

// SetValue sets one field of one visitor or account; the body is the raw
// JSON value.
func (c *Client) SetValue(ctx context.Context, kind Kind, group, id, field string, value json.RawMessage) error {
	path := fmt.Sprintf("/api/v1/metadata/%s/%s/value/%s/%s", url.PathEscape(string(kind)), url.PathEscape(group), url.PathEscape(id), url.PathEscape(field))
	return c.call(ctx, "PUT", path, "metadata/value/put", value, nil, true)
}

func reconcile(updates []Update, res BulkResult) []Outcome {
	out := make([]Outcome, len(updates))
	index := make(map[string][]int, len(updates))
	for i, u := range updates {
		index[u.ID] = append(index[u.ID], i)
	}
	for _, id := range res.Missing {
		for _, i := range index[id] {
			out[i].Status = Missing
		}
	}
	named := 0
	for _, raw := range res.Errors {
		id, msg := describeError(raw, index)
		if id == "" {
			continue
		}
		named++
		for _, i := range index[id] {
			out[i] = Outcome{Status: Rejected, Error: msg}
		}
	}
	failed := max(res.Failed-len(res.Missing), len(res.Errors))
	if failed > named {
		msg := fmt.Sprintf("Pendo reported %d failed rows without naming them all (updated %d of %d)", failed, *res.Updated, *res.Total)
		for i := range out {
			if out[i].Status == Updated {
				out[i] = Outcome{Status: Failed, Error: msg}
			}
		}
	}
	return out
}

// describeError finds which row an error entry names and its message.
// Pendo does not document the entry's shape: it may be a string or an
// object; the row is recognised by any id of the batch it mentions.
func describeError(raw json.RawMessage, index map[string][]int) (id, msg string) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		for cand := range index {
			if strings.Contains(s, cand) {
				return cand, s
			}
		}
		return "", s
	}
	var obj map[string]any
	if json.Unmarshal(raw, &obj) != nil {
		return "", string(raw)
	}
	msg = string(raw)
	for _, k := range []string{"error", "message", "reason"} {
		if m, ok := obj[k].(string); ok {
			msg = m
			break
		}
	}
	for _, k := range []string{"id", "visitorId", "accountId"} {
		if v, ok := obj[k].(string); ok {
			if _, known := index[v]; known {
				return v, msg
			}
		}
	}
	return "", msg
}
