package hubspot

import (
	"context"
)

// Property is a property definition.
type Property struct {
	Name                 string   `json:"name"`
	Label                string   `json:"label"`
	Type                 string   `json:"type"`      // string, number, bool, enumeration, date, datetime, phone_number, …
	FieldType            string   `json:"fieldType"` // text, number, booleancheckbox, select, checkbox, radio, date, file, …
	GroupName            string   `json:"groupName"`
	Description          string   `json:"description,omitempty"`
	Options              []Option `json:"options"`
	HasUniqueValue       bool     `json:"hasUniqueValue,omitempty"`
	Calculated           bool     `json:"calculated,omitempty"`
	ExternalOptions      bool     `json:"externalOptions,omitempty"`
	HubspotDefined       bool     `json:"hubspotDefined,omitempty"`
	Archived             bool     `json:"archived,omitempty"`
	ModificationMetadata struct {
		ReadOnlyValue bool `json:"readOnlyValue"`
	} `json:"modificationMetadata"`
}

// ReadOnly reports whether the property's value cannot be written.
func (p *Property) ReadOnly() bool { return p.ModificationMetadata.ReadOnlyValue || p.Calculated }

// Option is one enumeration option; Value is what the API reads and writes.
type Option struct {
	Label        string `json:"label"`
	Value        string `json:"value"`
	DisplayOrder int    `json:"displayOrder"`
	Hidden       bool   `json:"hidden"`
}

// PropertyGroup groups properties in HubSpot's UI.
type PropertyGroup struct {
	Name         string `json:"name"`
	Label        string `json:"label"`
	DisplayOrder int    `json:"displayOrder"`
}

// Properties lists the property definitions of objectType.
func (c *Client) Properties(ctx context.Context, objectType string) ([]Property, error) {
	var body struct {
		Results []Property `json:"results"`
	}
	if err := c.do(ctx, call{method: "GET", path: c.propertiesPath(objectType), out: &body, idempotent: true}); err != nil {
		return nil, err
	}
	return body.Results, nil
}

// CreateProperty defines a property on objectType. HubSpot answers 409 if
// the name exists.
func (c *Client) CreateProperty(ctx context.Context, objectType string, p Property) (*Property, error) {
	if p.Options == nil {
		p.Options = []Option{}
	}
	var out Property
	// Creating a property twice answers 409, so a retry after a lost
	// response is detectable, and safe.
	if err := c.do(ctx, call{method: "POST", path: c.propertiesPath(objectType), body: p, out: &out, idempotent: true}); err != nil {
		return nil, err
	}
	return &out, nil
}

// PropertyGroups lists objectType's property groups.
func (c *Client) PropertyGroups(ctx context.Context, objectType string) ([]PropertyGroup, error) {
	var body struct {
		Results []PropertyGroup `json:"results"`
	}
	if err := c.do(ctx, call{method: "GET", path: c.propertiesPath(objectType) + "/groups", out: &body, idempotent: true}); err != nil {
		return nil, err
	}
	return body.Results, nil
}

// CreatePropertyGroup creates a property group.
func (c *Client) CreatePropertyGroup(ctx context.Context, objectType string, g PropertyGroup) error {
	return c.do(ctx, call{method: "POST", path: c.propertiesPath(objectType) + "/groups", body: g, idempotent: true})
}
