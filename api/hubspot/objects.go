package hubspot

import (
	"context"
	"fmt"
	"net/url"
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
}

// Page is one page of a list call.
type Page struct {
	Results []Object `json:"results"`
	Paging  *struct {
		Next *struct {
			After string `json:"after"`
		} `json:"next"`
	} `json:"paging"`
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

// maxListPageSize is HubSpot's cap on list pages.
const maxListPageSize = 100

// ListPage fetches one page of records of objectType after the given paging
// cursor ("" for the first page). The returned cursor is "" on the last page.
func (c *Client) ListPage(ctx context.Context, objectType string, opts ListOptions, after string) ([]Object, string, error) {
	size := opts.PageSize
	if size == 0 {
		size = maxListPageSize
	}
	if size < 1 || size > maxListPageSize {
		return nil, "", fmt.Errorf("hubspot: list %s: page size %d outside 1–%d", objectType, size, maxListPageSize)
	}
	q := url.Values{"limit": {strconv.Itoa(size)}}
	if len(opts.Properties) > 0 {
		q.Set("properties", strings.Join(opts.Properties, ","))
	}
	if opts.Archived {
		q.Set("archived", "true")
	}
	if after != "" {
		q.Set("after", after)
	}
	var page Page
	path := "/crm/v3/objects/" + url.PathEscape(objectType)
	if err := c.do(ctx, "GET", path, q, nil, &page, true); err != nil {
		return nil, "", err
	}
	next := ""
	if page.Paging != nil && page.Paging.Next != nil {
		next = page.Paging.Next.After
		if next == after {
			return nil, "", fmt.Errorf("hubspot: list %s: paging cursor %q did not advance", objectType, after)
		}
	}
	return page.Results, next, nil
}

// List pages through every record of objectType, calling fn once per page
// in order. It stops at the first error, fn's included.
func (c *Client) List(ctx context.Context, objectType string, opts ListOptions, fn func([]Object) error) error {
	after := ""
	for {
		objs, next, err := c.ListPage(ctx, objectType, opts, after)
		if err != nil {
			return err
		}
		if err := fn(objs); err != nil {
			return err
		}
		if next == "" {
			return nil
		}
		after = next
	}
}

// Property is a property definition.
type Property struct {
	Name                 string   `json:"name"`
	Label                string   `json:"label"`
	Type                 string   `json:"type"`
	FieldType            string   `json:"fieldType"`
	GroupName            string   `json:"groupName"`
	Description          string   `json:"description"`
	Options              []Option `json:"options"`
	HasUniqueValue       bool     `json:"hasUniqueValue"`
	Calculated           bool     `json:"calculated"`
	HubspotDefined       bool     `json:"hubspotDefined"`
	Archived             bool     `json:"archived"`
	ModificationMetadata struct {
		ReadOnlyValue bool `json:"readOnlyValue"`
	} `json:"modificationMetadata"`
}

// Option is one enumeration option; Value is what the API reads and writes.
type Option struct {
	Label  string `json:"label"`
	Value  string `json:"value"`
	Hidden bool   `json:"hidden"`
}

// Properties lists the property definitions of objectType.
func (c *Client) Properties(ctx context.Context, objectType string) ([]Property, error) {
	var body struct {
		Results []Property `json:"results"`
	}
	if err := c.do(ctx, "GET", "/crm/v3/properties/"+url.PathEscape(objectType), nil, nil, &body, true); err != nil {
		return nil, err
	}
	return body.Results, nil
}
