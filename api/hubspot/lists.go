package hubspot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// List is a HubSpot list (Lists v3, PublicObjectList).
type List struct {
	ListID       string `json:"listId"`
	Name         string `json:"name"`
	ObjectTypeID string `json:"objectTypeId"`
	// ProcessingType is MANUAL, SNAPSHOT (both written by the API) or
	// DYNAMIC (members from filters: read only).
	ProcessingType   string    `json:"processingType"`
	ProcessingStatus string    `json:"processingStatus"`
	Size             int64     `json:"size"`
	UpdatedAt        time.Time `json:"updatedAt"`
	// LastAdded and LastRemoved are when a member last joined or left
	// (search's hs_last_record_added_at and _removed_at); zero when none.
	LastAdded, LastRemoved time.Time `json:"-"`
}

// Writable reports whether the API may change the list's members.
func (l List) Writable() bool { return l.ProcessingType == "MANUAL" || l.ProcessingType == "SNAPSHOT" }

// MaxListMembershipIDs is how many record ids one membership call
// carries: HubSpot states no limit; the reference's safest reading.
const MaxListMembershipIDs = 1000

// listSearchPage is the most lists one search answers.
const listSearchPage = 500

// Lists lists every list (of objectTypeID, or all when ""), paging
// search by offset. A page must move the offset forward and stay within
// the total it states, or the answer is refused.
func (c *Client) Lists(ctx context.Context, objectTypeID string) ([]List, error) {
	var out []List
	offset := 0
	for page := 0; ; page++ {
		req := map[string]any{"offset": offset, "count": listSearchPage, "additionalProperties": []string{"hs_list_size", "hs_last_record_added_at", "hs_last_record_removed_at"}}
		if objectTypeID != "" {
			req["objectTypeId"] = objectTypeID
		}
		var body struct {
			Lists []struct {
				List
				Additional map[string]json.RawMessage `json:"additionalProperties"`
			} `json:"lists"`
			Offset  int  `json:"offset"`
			HasMore bool `json:"hasMore"`
			Total   int  `json:"total"`
		}
		if err := c.do(ctx, call{method: "POST", path: "/crm/v3/lists/search", body: req, out: &body, idempotent: true}); err != nil {
			return nil, err
		}
		for _, l := range body.Lists {
			x := l.List
			// The spec's examples give these as strings and as numbers.
			x.Size = cmpInt(number(l.Additional["hs_list_size"]), x.Size)
			x.LastAdded = epochMillis(number(l.Additional["hs_last_record_added_at"]))
			x.LastRemoved = epochMillis(number(l.Additional["hs_last_record_removed_at"]))
			out = append(out, x)
		}
		if !body.HasMore {
			return out, nil
		}
		if body.Offset <= offset || len(body.Lists) == 0 || len(out) > body.Total || page > body.Total/max(1, len(body.Lists))+1 {
			return nil, fmt.Errorf("hubspot: POST /crm/v3/lists/search: page at offset %d answered offset %d with %d lists of %d and more to come: refused", offset, body.Offset, len(body.Lists), body.Total)
		}
		offset = body.Offset
	}
}

// number reads a JSON number or numeric string; -1 when absent or empty.
func number(raw json.RawMessage) int64 {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(raw)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

func cmpInt(n, def int64) int64 {
	if n < 0 {
		return def
	}
	return n
}

func epochMillis(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// ListByName finds a list of objectTypeID by name (HubSpot matches any
// case); ok is false when there is none.
func (c *Client) ListByName(ctx context.Context, objectTypeID, name string) (List, bool, error) {
	var body struct {
		List List `json:"list"`
	}
	var status int
	err := c.do(ctx, call{method: "GET", path: "/crm/v3/lists/object-type-id/" + url.PathEscape(objectTypeID) + "/name/" + url.PathEscape(name),
		out: &body, idempotent: true, status: &status})
	if status == 404 {
		return List{}, false, nil
	}
	if err != nil {
		return List{}, false, err
	}
	return body.List, true, nil
}

// CreateList makes a MANUAL list of objectTypeID. A name already taken
// answers 409 (so a retry after a lost answer is safe: it finds the list).
func (c *Client) CreateList(ctx context.Context, objectTypeID, name string) (List, error) {
	var body struct {
		List List `json:"list"`
	}
	req := map[string]string{"name": name, "objectTypeId": objectTypeID, "processingType": "MANUAL"}
	if err := c.do(ctx, call{method: "POST", path: "/crm/v3/lists", body: req, out: &body, idempotent: true}); err != nil {
		return List{}, err
	}
	if body.List.ListID == "" || body.List.Name != name {
		return List{}, fmt.Errorf("hubspot: POST /crm/v3/lists: created %q as %q (id %q): refused", name, body.List.Name, body.List.ListID)
	}
	return body.List, nil
}

// Member is one record of a list and when it joined.
type Member struct {
	RecordID string    `json:"recordId"`
	Joined   time.Time `json:"membershipTimestamp"`
}

// listMemberPage is the most members one read answers.
const listMemberPage = 250

// ListMembers calls fn with each page of a list's members, by record id
// ascending. Each page's cursor must move forward.
func (c *Client) ListMembers(ctx context.Context, listID string, fn func([]Member) error) error {
	after := ""
	for {
		q := url.Values{"limit": {strconv.Itoa(listMemberPage)}}
		if after != "" {
			q.Set("after", after)
		}
		var body struct {
			Results []Member `json:"results"`
			Paging  *struct {
				Next struct {
					After string `json:"after"`
				} `json:"next"`
			} `json:"paging"`
		}
		path := "/crm/v3/lists/" + url.PathEscape(listID) + "/memberships"
		if err := c.do(ctx, call{method: "GET", path: path, query: q, out: &body, idempotent: true}); err != nil {
			return err
		}
		if len(body.Results) > listMemberPage {
			return fmt.Errorf("hubspot: GET %s: %d members in a page of %d: refused", path, len(body.Results), listMemberPage)
		}
		if err := fn(body.Results); err != nil {
			return err
		}
		if body.Paging == nil || body.Paging.Next.After == "" {
			return nil
		}
		next := body.Paging.Next.After
		if next == after || len(body.Results) == 0 {
			return fmt.Errorf("hubspot: GET %s: page after %q points at %q again: refused", path, after, next)
		}
		after = next
	}
}

// MembershipChange is what one add or remove did: the ids changed, and
// those HubSpot has no record for.
type MembershipChange struct {
	Changed, Missing []string
}

// AddToList and RemoveFromList change a MANUAL or SNAPSHOT list's members,
// at most MaxListMembershipIDs ids a call. Adding a member twice or
// removing a non-member changes nothing, so the calls are retried safely.
// The answer must account for no id it was not asked about.
func (c *Client) AddToList(ctx context.Context, listID string, ids []string) (MembershipChange, error) {
	return c.changeList(ctx, listID, "add", ids)
}

func (c *Client) RemoveFromList(ctx context.Context, listID string, ids []string) (MembershipChange, error) {
	return c.changeList(ctx, listID, "remove", ids)
}

func (c *Client) changeList(ctx context.Context, listID, op string, ids []string) (MembershipChange, error) {
	if len(ids) > MaxListMembershipIDs {
		return MembershipChange{}, fmt.Errorf("hubspot: %d ids in one list %s call; the most is %d", len(ids), op, MaxListMembershipIDs)
	}
	path := "/crm/v3/lists/" + url.PathEscape(listID) + "/memberships/" + op
	var body struct {
		Added    []string `json:"recordsIdsAdded"`
		AddedAlt []string `json:"recordIdsAdded"` // HubSpot's reference page spells it so
		Removed  []string `json:"recordIdsRemoved"`
		Missing  []string `json:"recordIdsMissing"`
	}
	if ids == nil {
		ids = []string{}
	}
	if err := c.do(ctx, call{method: "PUT", path: path, body: ids, out: &body, idempotent: true}); err != nil {
		return MembershipChange{}, err
	}
	changed := body.Removed
	if op == "add" {
		changed = append(body.Added, body.AddedAlt...)
	}
	for _, id := range append(slices.Clone(changed), body.Missing...) {
		if !slices.Contains(ids, id) {
			return MembershipChange{}, fmt.Errorf("hubspot: PUT %s: the answer names record %s, which was not sent: refused", path, id)
		}
	}
	return MembershipChange{Changed: changed, Missing: body.Missing}, nil
}
