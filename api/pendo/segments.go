package pendo

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// Segment is a Pendo segment shared with everyone (GET /api/v1/segment).
type Segment struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	CreatedByAPI bool   `json:"createdByApi"`
	// UpdatedAt is lastUpdatedAt: when the definition last changed (not
	// its members, which move with the data).
	UpdatedAt time.Time `json:"-"`
}

// Segments lists the shared segments. Each must have an id, and no id
// may come twice, or the answer is refused.
func (c *Client) Segments(ctx context.Context) ([]Segment, error) {
	var raw []struct {
		Segment
		LastUpdatedAt int64 `json:"lastUpdatedAt"`
	}
	if err := c.call(ctx, "GET", "/api/v1/segment", "segment", nil, &raw, true); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	out := make([]Segment, 0, len(raw))
	for i, s := range raw {
		if s.ID == "" || seen[s.ID] {
			return nil, fmt.Errorf("pendo: GET /api/v1/segment: segment %d has id %q (empty or repeated): refused", i, s.ID)
		}
		seen[s.ID] = true
		s.Segment.UpdatedAt = time.UnixMilli(s.LastUpdatedAt).UTC()
		out = append(out, s.Segment)
	}
	return out, nil
}

// Segment reads one segment by id.
func (c *Client) Segment(ctx context.Context, id string) (Segment, error) {
	var raw struct {
		Segment
		LastUpdatedAt int64 `json:"lastUpdatedAt"`
	}
	path := "/api/v1/segment/" + url.PathEscape(id)
	if err := c.call(ctx, "GET", path, "segment/get", nil, &raw, true); err != nil {
		return Segment{}, err
	}
	if raw.ID != id {
		// A different segment is not the one asked for (Segment's own
		// destination treats it as not found).
		return Segment{}, fmt.Errorf("pendo: GET %s: answered segment %q: refused", path, raw.ID)
	}
	raw.Segment.UpdatedAt = time.UnixMilli(raw.LastUpdatedAt).UTC()
	return raw.Segment, nil
}

// SegmentMembers calls fn with the id of every visitor of a segment that
// Pendo knows (an uploaded id that never visited is not returned), in id
// order, paging as Visitors does.
func (c *Client) SegmentMembers(ctx context.Context, segmentID string, pageSize int, fn func(visitorID string) error) error {
	return c.listEntities(ctx, "visitors", "visitorId", ListOptions{PageSize: pageSize, Segment: segmentID, IncludeAnonymous: true}, func(e *Entity) error {
		return fn(e.ID)
	})
}
