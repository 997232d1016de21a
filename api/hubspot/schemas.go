package hubspot

import "context"

// ObjectSchema describes a custom object type.
type ObjectSchema struct {
	ObjectTypeID           string            `json:"objectTypeId"` // 2-…
	FullyQualifiedName     string            `json:"fullyQualifiedName"`
	Name                   string            `json:"name"`
	Labels                 map[string]string `json:"labels"`
	PrimaryDisplayProperty string            `json:"primaryDisplayProperty"`
	RequiredProperties     []string          `json:"requiredProperties"`
	Properties             []Property        `json:"properties"`
	Archived               bool              `json:"archived"`
}

// Schemas lists the account's custom object types (Enterprise only).
func (c *Client) Schemas(ctx context.Context) ([]ObjectSchema, error) {
	var body struct {
		Results []ObjectSchema `json:"results"`
	}
	if err := c.do(ctx, call{method: "GET", path: "/crm-object-schemas/v3/schemas", out: &body, idempotent: true}); err != nil {
		return nil, err
	}
	return body.Results, nil
}
