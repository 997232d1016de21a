package hubspot

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
)

// MaxAssociationBatch is the v4 batch read's limit on ids per call.
const MaxAssociationBatch = 1000

// AssociatedID is one associated record.
type AssociatedID struct {
	ToObjectID       string
	AssociationTypes []AssociationType
}

// AssociationType is a typed link between two records.
type AssociationType struct {
	Category string  `json:"category"`
	TypeID   int     `json:"typeId"`
	Label    *string `json:"label"`
}

// AssociationsBatch reads the toType associations of up to 1,000 fromType
// records, following each record's own paging, and returns them by record
// id. A record with none is absent from the map: HubSpot reports those as
// NO_ASSOCIATIONS_FOUND errors of a 207, which is normal, not a failure.
func (c *Client) AssociationsBatch(ctx context.Context, fromType, toType string, ids []string) (map[string][]AssociatedID, error) {
	if len(ids) > MaxAssociationBatch {
		return nil, fmt.Errorf("hubspot: associations %s→%s: %d ids, at most %d per call", fromType, toType, len(ids), MaxAssociationBatch)
	}
	path := "/crm/v4/associations/" + url.PathEscape(fromType) + "/" + url.PathEscape(toType) + "/batch/read"
	out := map[string][]AssociatedID{}
	type input struct {
		ID    string `json:"id"`
		After string `json:"after,omitempty"`
	}
	pending := make([]input, len(ids))
	asked := make(map[string]bool, len(ids))
	for i, id := range ids {
		pending[i] = input{ID: id}
		asked[id] = true
	}
	cursors := map[input]bool{}
	for calls := 1; len(pending) > 0; calls++ {
		if calls > c.maxPages {
			return nil, fmt.Errorf("hubspot: associations %s→%s: %w: more than %d pages", fromType, toType, ErrBadPage, c.maxPages)
		}
		var resp struct {
			Results []struct {
				From struct {
					ID string `json:"id"`
				} `json:"from"`
				To []struct {
					// toObjectId is a number on the wire, a string in the spec.
					ToObjectID       flexString        `json:"toObjectId"`
					AssociationTypes []AssociationType `json:"associationTypes"`
				} `json:"to"`
				Paging *paging `json:"paging"`
			} `json:"results"`
			Errors []StandardError `json:"errors"`
		}
		if err := c.do(ctx, call{method: "POST", path: path, body: map[string]any{"inputs": pending}, out: &resp, idempotent: true}); err != nil {
			return nil, err
		}
		for _, e := range resp.Errors {
			if e.SubCategory != "crm.associations.NO_ASSOCIATIONS_FOUND" {
				return nil, fmt.Errorf("hubspot: associations %s→%s: %s: %s", fromType, toType, e.Category, e.Message)
			}
		}
		// Only the records asked for, each once per call, and a cursor
		// never served before.
		pendingNow := map[string]bool{}
		for _, p := range pending {
			pendingNow[p.ID] = true
		}
		pending = pending[:0]
		answered := map[string]bool{}
		for _, r := range resp.Results {
			if !asked[r.From.ID] || !pendingNow[r.From.ID] || answered[r.From.ID] {
				return nil, fmt.Errorf("hubspot: associations %s→%s: %w: results for %q, which was not asked for in this call (or came twice)", fromType, toType, ErrBadPage, r.From.ID)
			}
			answered[r.From.ID] = true
			for _, t := range r.To {
				if t.ToObjectID == "" {
					return nil, fmt.Errorf("hubspot: associations %s→%s: %w: an association of %s has no toObjectId", fromType, toType, ErrBadPage, r.From.ID)
				}
				out[r.From.ID] = append(out[r.From.ID], AssociatedID{ToObjectID: string(t.ToObjectID), AssociationTypes: t.AssociationTypes})
			}
			if next := r.Paging.nextAfter(); next != "" {
				in := input{ID: r.From.ID, After: next}
				if cursors[in] {
					return nil, fmt.Errorf("hubspot: associations %s→%s: %w: the cursor %q of %s came back", fromType, toType, ErrBadPage, next, r.From.ID)
				}
				cursors[in] = true
				pending = append(pending, in)
			}
		}
	}
	return out, nil
}

// flexString decodes a JSON string or number as a string.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		s, err := strconv.Unquote(string(b))
		*f = flexString(s)
		return err
	}
	*f = flexString(b)
	return nil
}

// AssociateDefault links two records with their default association type.
func (c *Client) AssociateDefault(ctx context.Context, fromType, fromID, toType, toID string) error {
	path := fmt.Sprintf("/crm/v4/objects/%s/%s/associations/default/%s/%s",
		url.PathEscape(fromType), url.PathEscape(fromID), url.PathEscape(toType), url.PathEscape(toID))
	return c.do(ctx, call{method: "PUT", path: path, idempotent: true})
}

// Pair is one association to create.
type Pair struct{ FromID, ToID string }

// AssociateDefaultBatch links up to 1,000 pairs with their default type
// and returns the pairs HubSpot refused, with its reasons.
func (c *Client) AssociateDefaultBatch(ctx context.Context, fromType, toType string, pairs []Pair) (map[Pair]string, error) {
	if len(pairs) > MaxAssociationBatch {
		return nil, fmt.Errorf("hubspot: associate %s→%s: %d pairs, at most %d per call", fromType, toType, len(pairs), MaxAssociationBatch)
	}
	inputs := make([]map[string]any, len(pairs))
	for i, p := range pairs {
		inputs[i] = map[string]any{"from": map[string]string{"id": p.FromID}, "to": map[string]string{"id": p.ToID}}
	}
	var resp batchResponse
	path := "/crm/v4/associations/" + url.PathEscape(fromType) + "/" + url.PathEscape(toType) + "/batch/associate/default"
	if err := c.do(ctx, call{method: "POST", path: path, body: map[string]any{"inputs": inputs}, out: &resp, idempotent: true}); err != nil {
		return nil, err
	}
	failed := map[Pair]string{}
	for _, e := range resp.Errors {
		from, to := e.Context["fromObjectId"], e.Context["toObjectId"]
		if len(from) == 1 && len(to) == 1 {
			failed[Pair{from[0], to[0]}] = e.Category + ": " + e.Message
		}
	}
	return failed, nil
}
