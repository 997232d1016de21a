package hubspot

import (
	"context"
	"net/url"
)

// Owner is a HubSpot user who can own records; hubspot_owner_id holds ID.
type Owner struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	FirstName string `json:"firstName"`
	LastName  string `json:"lastName"`
	UserID    int    `json:"userId"`
	Archived  bool   `json:"archived"`
}

// Owners lists every owner.
func (c *Client) Owners(ctx context.Context) ([]Owner, error) {
	var out []Owner
	after := ""
	for {
		q := url.Values{"limit": {"500"}}
		if after != "" {
			q.Set("after", after)
		}
		var page struct {
			Results []Owner `json:"results"`
			Paging  *paging `json:"paging"`
		}
		if err := c.do(ctx, call{method: "GET", path: "/crm/v3/owners", query: q, out: &page, idempotent: true}); err != nil {
			return nil, err
		}
		out = append(out, page.Results...)
		if after = page.Paging.nextAfter(); after == "" {
			return out, nil
		}
	}
}
