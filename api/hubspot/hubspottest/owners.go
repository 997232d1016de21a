package hubspottest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Owner is a HubSpot user who can own records.
type Owner struct {
	ID        string   `json:"id"`
	Email     string   `json:"email"`
	FirstName string   `json:"firstName"`
	LastName  string   `json:"lastName"`
	UserID    int      `json:"userId"`
	CreatedAt string   `json:"createdAt"`
	UpdatedAt string   `json:"updatedAt"`
	Archived  bool     `json:"archived"`
	Teams     []string `json:"teams"`
}

// AddOwner adds a user who can own records and returns the owner id.
func (s *Server) AddOwner(email, first, last string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := strconv.Itoa(50_000_000 + len(s.owners) + 1)
	stamp := formatTime(s.now())
	s.owners = append(s.owners, Owner{ID: id, Email: email, FirstName: first, LastName: last, UserID: 9_000_000 + len(s.owners) + 1,
		CreatedAt: stamp, UpdatedAt: stamp, Teams: []string{}})
	return id
}

// ownerExists is called with s.mu held.
func (s *Server) ownerExists(id string) bool {
	for _, o := range s.owners {
		if o.ID == id && !o.Archived {
			return true
		}
	}
	return false
}

// listOwners serves GET /crm/v3/owners (limit ≤ 500, after, email).
func (s *Server) listOwners(rw *response, r *http.Request) {
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 500 {
			rw.validation(fmt.Sprintf("limit must be between 1 and 500, got %q", v))
			return
		}
		limit = n
	}
	start := 0
	if v := q.Get("after"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			rw.validation(fmt.Sprintf("after %q is not a valid paging cursor", v))
			return
		}
		start = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var match []Owner
	for _, o := range s.owners {
		if (q.Get("archived") == "true") == o.Archived && (q.Get("email") == "" || strings.EqualFold(q.Get("email"), o.Email)) {
			match = append(match, o)
		}
	}
	end := min(start+limit, len(match))
	results := []Owner{}
	if start < len(match) {
		results = match[start:end]
	}
	body := map[string]any{"results": results}
	if end < len(match) {
		body["paging"] = map[string]any{"next": map[string]string{"after": strconv.Itoa(end)}}
	}
	rw.json(http.StatusOK, body)
}
