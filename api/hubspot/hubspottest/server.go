// Package hubspottest is an in-memory emulator of the HubSpot CRM API, for
// tests, benchmarks, the demo and `backflow sandbox`.
//
// It is deliberately as strict as the real API (see
// shared/reference/hubspot.md): property values are strings, unknown and
// read-only properties are rejected, responses carry HubSpot's envelopes,
// error bodies, correlation ids and rate-limit headers, batches answer 207
// with per-input errors or fail whole, search stops at 10,000 results and
// lags behind writes, and the rolling 10-second window answers 429 once
// spent. An emulator kinder than HubSpot would hide the bugs users hit in
// production. docs/emulators.md lists what it reproduces and the choices
// made where HubSpot does not document its behaviour.
package hubspottest

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Options configure a Server. Zero values take HubSpot's defaults for a
// Starter-tier private app.
type Options struct {
	// Tokens are accepted private-app tokens, with every scope. Use
	// AddToken for a token with limited scopes.
	Tokens []string
	// BurstLimit is the number of requests allowed per rolling Window per
	// token (HubSpot: 100, 190 or 250 by tier). Default 100.
	BurstLimit int
	// Window is the rolling window length. Default 10s.
	Window time.Duration
	// DailyLimit is the per-account daily budget. Default 250,000.
	DailyLimit int
	// SearchPerSecond is the search endpoints' own limit. Default 5.
	SearchPerSecond int
	// SearchLag is how far search's index trails writes: search answers
	// with each record as it was this long ago (old values; not yet
	// created; not yet archived), as HubSpot's does (integrators see a
	// few seconds; HubSpot documents none). Default 3 s; negative for
	// none (a test about something else that searches right after a
	// write on a clock that does not move).
	SearchLag time.Duration
	// PortalID is the HubSpot account id. Default 4242.
	PortalID int
	// AssociationsPageSize is how many associations of one record a batch
	// read returns before paging. Default 500.
	AssociationsPageSize int
	// OAuth configures the OAuth app the emulator accepts.
	OAuth OAuthApp
	// AppID and DeveloperAPIKey identify the public app whose timeline
	// event templates are managed with ?hapikey= (app-level calls).
	AppID           int
	DeveloperAPIKey string
	// TimelineLastWins moves a timeline event whose id is reused for
	// another record (the v3 spec's wording) instead of refusing it with
	// 400 (the v1 rule, the default).
	TimelineLastWins bool
	// Faults injects failures; see Faults.
	Faults Faults
	// Now is the emulator's present: the time records are created and
	// modified at, search lag and token expiry are measured from, and
	// generated data is dated by. Default the system clock. Rate limits
	// count real time whatever the clock: they are what a client's pacing
	// meets, and a client paces on real time.
	Now func() time.Time
}

// DefaultSearchLag is how far search trails writes unless Options say.
const DefaultSearchLag = 3 * time.Second

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
	if o.SearchPerSecond == 0 {
		o.SearchPerSecond = 5
	}
	if o.SearchLag == 0 {
		o.SearchLag = DefaultSearchLag
	}
	if o.PortalID == 0 {
		o.PortalID = 4242
	}
	if o.AssociationsPageSize == 0 {
		o.AssociationsPageSize = 500
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.OAuth.AccessTokenTTL == 0 {
		o.OAuth.AccessTokenTTL = 30 * time.Minute
	}
}

// Server is the emulator. It implements http.Handler; serve it with
// httptest.NewServer or any http.Server. Its Go methods (CreateObject,
// UpdateObject, …) let tests and the demo change data behind the API's
// back, as a HubSpot user would in the UI.
type Server struct {
	opts       Options
	mux        *http.ServeMux
	routesMeta map[string]route

	mu       sync.Mutex
	types    map[string]*objectType // by name: "contacts", …
	tokens   map[string]*token      // accepted bearer tokens
	limits   map[string]*window     // by bucket: token, "search", …
	daily    int
	nextID   int64
	counts   map[string]int // requests served, by route pattern
	limited  int            // 429s answered
	owners   []Owner
	assoc    map[assocKey]map[int64]map[int64]bool // from type, to type → from id → to id
	primary  map[assocKey]map[int64]int64          // contacts, deals, tickets → companies: the primary company
	eventDef map[string]*EventDefinition           // by fullyQualifiedName
	lists    listState
	events   []Event
	uuids    map[string]time.Time // event uuid → first accepted
	oauth    oauthState
	timeline timelineState
	hooks    hookState
	faults   *faultState
	now      func() time.Time
}

// New returns an emulator with the standard object types and their
// HubSpot-defined properties, and no records.
func New(opts Options) *Server {
	opts.setDefaults()
	s := &Server{
		opts:     opts,
		types:    map[string]*objectType{},
		tokens:   map[string]*token{},
		limits:   map[string]*window{},
		nextID:   1000,
		counts:   map[string]int{},
		assoc:    map[assocKey]map[int64]map[int64]bool{},
		primary:  map[assocKey]map[int64]int64{},
		eventDef: map[string]*EventDefinition{},
		uuids:    map[string]time.Time{},
		faults:   newFaultState(opts.Faults),
		now:      opts.Now,
		mux:      http.NewServeMux(),

		routesMeta: map[string]route{},
	}
	for _, t := range standardTypes() {
		t.observe = s.observe
		s.types[t.name] = t
	}
	for _, t := range opts.Tokens {
		s.tokens[t] = &token{private: true}
	}
	s.faults.burst, s.faults.window = opts.BurstLimit, opts.Window
	s.oauth.init()
	s.timeline = timelineState{templates: map[string]*TimelineTemplate{}, events: map[string]*TimelineEvent{}}
	s.routes()
	return s
}

// AddToken accepts a private-app token that holds only the given scopes.
func (s *Server) AddToken(tok string, scopes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = &token{private: true, scopes: scopes, limited: true}
}

// SetClock replaces the emulator's clock (for expiry and lag tests).
func (s *Server) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// route is one endpoint: the scope it needs and the rate-limit bucket it
// counts against.
type route struct {
	developer bool                         // authenticated with ?hapikey=, not a bearer token
	scope     func(r *http.Request) string // "" when any valid token will do
	bucket    bucket
	handle    func(rw *response, r *http.Request)
}

// ServeHTTP authenticates, injects faults, applies rate limits, and routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rw := &response{w: w, correlationID: newUUID()}
	w.Header().Set("X-HubSpot-Correlation-Id", rw.correlationID)
	ctxW := withResponse(w, rw)

	if len(r.URL.RequestURI()) > maxURILength {
		// HubSpot's front end refuses long URLs before the API sees them.
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusRequestURITooLong)
		w.Write([]byte("<html><body><h1>414 Request-URI Too Large</h1></body></html>"))
		return
	}
	if strings.HasPrefix(r.URL.Path, "/oauth/") {
		s.serveOAuth(rw, r)
		return
	}
	_, pattern := s.mux.Handler(r)
	rt, ok := s.routesMeta[pattern]
	if !ok {
		rw.error(http.StatusNotFound, apiError{Category: "OBJECT_NOT_FOUND", Message: "Unable to route " + r.Method + " " + r.URL.Path})
		return
	}
	if rt.developer {
		// App-level calls take the developer API key, not a portal token.
		key := r.URL.Query().Get("hapikey")
		if key == "" || key != s.opts.DeveloperAPIKey {
			rw.error(http.StatusUnauthorized, apiError{Category: "INVALID_AUTHENTICATION", Message: "The developer API key provided is invalid."})
			return
		}
		if !s.admit(rw, "developer:"+key, pattern, burstBucket) {
			return
		}
		s.mux.ServeHTTP(ctxW, r)
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		rw.error(http.StatusUnauthorized, apiError{Category: "INVALID_AUTHENTICATION", Message: authMissing})
		return
	}
	t, ok := s.authenticate(rw, tok)
	if !ok {
		return
	}
	rw.token = t
	if s.faults.inject(w, r, rw) {
		return
	}
	if !s.admit(rw, tok, pattern, rt.bucket) {
		return
	}
	if d := s.faults.slowAfter(pattern); d > 0 {
		// Applied now, answered late (or never, if the caller gives up).
		rec := httptest.NewRecorder()
		s.mux.ServeHTTP(withResponse(rec, &response{w: rec, correlationID: rw.correlationID, token: t}), r)
		select {
		case <-time.After(d):
		case <-r.Context().Done():
			return
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		return
	}
	if status := s.faults.failAfter(r, pattern); status >= 0 {
		// The work is done; the answer is lost behind a failure.
		rec := httptest.NewRecorder()
		s.mux.ServeHTTP(withResponse(rec, &response{w: rec, correlationID: rw.correlationID, token: t}), r)
		s.faults.answer(w, rw, status)
		return
	}
	s.mux.ServeHTTP(ctxW, r)
}

// maxURILength is where HubSpot starts answering 414 (integrators report
// trouble at about 16 k characters of properties).
const maxURILength = 16 * 1024

const authMissing = "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"

// Requests returns how many requests the emulator served per route
// pattern (e.g. "POST /crm/v3/objects/{objectType}/batch/update") and how
// many it answered with 429.
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
	token         *token // the authenticated caller
}

// responseWriter carries the response helper through the mux.
type responseWriter struct {
	http.ResponseWriter
	rw *response
}

func withResponse(w http.ResponseWriter, rw *response) http.ResponseWriter {
	return &responseWriter{ResponseWriter: w, rw: rw}
}

func responseFrom(w http.ResponseWriter) *response {
	if x, ok := w.(*responseWriter); ok {
		return x.rw
	}
	return &response{w: w, correlationID: newUUID()}
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

// standardError is one entry of a batch response's errors (spec
// `StandardError`: category, context, errors, links, message, status are
// required).
type standardError struct {
	Status      string              `json:"status"`
	Category    string              `json:"category"`
	SubCategory string              `json:"subCategory,omitempty"`
	Message     string              `json:"message"`
	Context     map[string][]string `json:"context"`
	Errors      []errorDetail       `json:"errors"`
	Links       map[string]string   `json:"links"`
}

func newStandardError(category, msg string, context map[string][]string) standardError {
	if context == nil {
		context = map[string][]string{}
	}
	return standardError{Status: "error", Category: category, Message: msg, Context: context, Errors: []errorDetail{}, Links: map[string]string{}}
}

func (rw *response) json(status int, body any) {
	rw.w.Header().Set("Content-Type", "application/json;charset=utf-8")
	rw.w.WriteHeader(status)
	json.NewEncoder(rw.w).Encode(body)
}

func (rw *response) noContent() { rw.w.WriteHeader(http.StatusNoContent) }

func (rw *response) error(status int, e apiError) {
	e.Status = "error"
	e.CorrelationID = rw.correlationID
	rw.json(status, e)
}

func (rw *response) validation(msg string) {
	rw.error(http.StatusBadRequest, apiError{Category: "VALIDATION_ERROR", Message: msg})
}

// decode reads a JSON body, answering HubSpot's 400 for malformed input.
func decode(rw *response, r *http.Request, into any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		rw.validation("Invalid input JSON: " + err.Error())
		return false
	}
	if err := json.Unmarshal(body, into); err != nil {
		rw.validation(fmt.Sprintf("Invalid input JSON on line 1, column 1: %v", err))
		return false
	}
	return true
}

func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
