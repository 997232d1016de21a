// Package hubspottest is an in-memory emulator of the HubSpot CRM API, for
// tests, benchmarks, the demo and `backflow sandbox`.
//
// It is deliberately as strict as the real API (see
// shared/reference/hubspot.md): property values are strings, unknown and
// read-only properties are rejected, responses carry HubSpot's envelopes,
// error bodies, correlation ids and rate-limit headers, and the rolling
// 10-second window answers 429 with HubSpot's body once spent. An emulator
// kinder than HubSpot would hide the bugs users hit in production.
package hubspottest

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Options configure a Server. Zero values take HubSpot's defaults for a
// Starter-tier private app.
type Options struct {
	// Tokens are the accepted private-app tokens. Requests with any other
	// bearer token get 401 INVALID_AUTHENTICATION.
	Tokens []string
	// BurstLimit is the number of requests allowed per rolling Window per
	// token (HubSpot: 100, 190 or 250 by tier). Default 100.
	BurstLimit int
	// Window is the rolling window length. Default 10s.
	Window time.Duration
	// DailyLimit is the per-account daily budget. Default 250,000.
	DailyLimit int
	// PortalID is the HubSpot account id. Default 4242.
	PortalID int
}

func (o *Options) setDefaults() {
	if o.BurstLimit == 0 {
		o.BurstLimit = 100
	}
	if o.Window == 0 {
		o.Window = 10 * time.Second
	}
	if o.DailyLimit == 0 {
		o.DailyLimit = 250_000
	}
	if o.PortalID == 0 {
		o.PortalID = 4242
	}
}

// Server is the emulator. It implements http.Handler; serve it with
// httptest.NewServer or any http.Server. Its Go methods (CreateObject,
// UpdateObject, …) let tests and the demo change data behind the API's back,
// as a HubSpot user would in the UI.
type Server struct {
	opts Options

	mu      sync.Mutex
	types   map[string]*objectType // by name: "contacts", …
	limits  map[string]*window     // by token
	daily   int
	nextID  int64
	counts  map[string]int // requests served, by "METHOD route"
	limited int            // 429s answered
	now     func() time.Time
}

// New returns an empty emulator with the standard object types and their
// HubSpot-defined properties.
func New(opts Options) *Server {
	opts.setDefaults()
	s := &Server{
		opts:   opts,
		types:  map[string]*objectType{},
		limits: map[string]*window{},
		nextID: 1000,
		counts: map[string]int{},
		now:    time.Now,
	}
	for _, t := range standardTypes() {
		s.types[t.name] = t
	}
	return s
}

// ServeHTTP routes a request to the emulated endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rw := &response{w: w, correlationID: newUUID()}
	rw.w.Header().Set("X-HubSpot-Correlation-Id", rw.correlationID)

	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || !s.validToken(token) {
		rw.error(http.StatusUnauthorized, apiError{
			Category: "INVALID_AUTHENTICATION",
			Message:  "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
		})
		return
	}

	route, handler := s.route(r)
	if handler == nil {
		rw.error(http.StatusNotFound, apiError{Category: "OBJECT_NOT_FOUND", Message: "Unable to route " + r.Method + " " + r.URL.Path})
		return
	}
	if !s.admit(rw, token, route) {
		return
	}
	handler(rw, r)
}

func (s *Server) validToken(token string) bool {
	for _, t := range s.opts.Tokens {
		if token == t {
			return true
		}
	}
	return false
}

// route maps a request to a handler. Both /crm/v3/… and the date-versioned
// /crm/objects/2026-03/… style paths reach the same handlers.
func (s *Server) route(r *http.Request) (string, func(*response, *http.Request)) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(parts) == 4 && parts[0] == "crm" && parts[1] == "v3" && parts[2] == "objects" && r.Method == http.MethodGet,
		len(parts) == 4 && parts[0] == "crm" && parts[1] == "objects" && isDateVersion(parts[2]) && r.Method == http.MethodGet:
		name := parts[3]
		return "GET objects", func(rw *response, r *http.Request) { s.listObjects(rw, r, name) }
	case len(parts) == 4 && parts[0] == "crm" && parts[1] == "v3" && parts[2] == "properties" && r.Method == http.MethodGet,
		len(parts) == 4 && parts[0] == "crm" && parts[1] == "properties" && isDateVersion(parts[2]) && r.Method == http.MethodGet:
		name := parts[3]
		return "GET properties", func(rw *response, r *http.Request) { s.listProperties(rw, r, name) }
	}
	return "", nil
}

func isDateVersion(s string) bool {
	_, err := time.Parse("2006-01", s)
	return err == nil
}

// Requests returns how many requests the emulator served per route
// ("GET objects", "GET properties", …) and how many it answered with 429.
func (s *Server) Requests() (byRoute map[string]int, rateLimited int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out, s.limited
}

// response writes HubSpot-shaped bodies.
type response struct {
	w             http.ResponseWriter
	correlationID string
}

// apiError is HubSpot's error body (spec `Error`).
type apiError struct {
	Status        string              `json:"status"`
	Message       string              `json:"message"`
	CorrelationID string              `json:"correlationId"`
	Category      string              `json:"category,omitempty"`
	SubCategory   string              `json:"subCategory,omitempty"`
	Context       map[string][]string `json:"context,omitempty"`
	Errors        []errorDetail       `json:"errors,omitempty"`
	Links         map[string]string   `json:"links,omitempty"`
	// Rate-limit bodies carry these instead of (or besides) category.
	ErrorType  string `json:"errorType,omitempty"`
	PolicyName string `json:"policyName,omitempty"`
	GroupName  string `json:"groupName,omitempty"`
}

type errorDetail struct {
	Message string              `json:"message"`
	In      string              `json:"in,omitempty"`
	Code    string              `json:"code,omitempty"`
	Context map[string][]string `json:"context,omitempty"`
}

func (rw *response) json(status int, body any) {
	rw.w.Header().Set("Content-Type", "application/json;charset=utf-8")
	rw.w.WriteHeader(status)
	json.NewEncoder(rw.w).Encode(body)
}

func (rw *response) error(status int, e apiError) {
	e.Status = "error"
	e.CorrelationID = rw.correlationID
	rw.json(status, e)
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
