package pendotest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// DefaultAppID is the app id of a single-app subscription (Pendo's samples
// show -323232).
const DefaultAppID int64 = -323232

// App is one application of the subscription.
type App struct {
	ID       int64
	Name     string
	Platform string // web, ios, android
}

// Feature, Page and TrackType are tagged product areas.
type Feature struct {
	ID, Name string
	AppID    int64
}

// Page is a tagged page.
type Page struct {
	ID, Name string
	AppID    int64
}

// TrackType is a track event name, created by the first event sent with it.
type TrackType struct {
	ID, Name string
	AppID    int64
}

// Guide is an in-app guide; an NPS guide holds two polls (score, text).
type Guide struct {
	ID, Name string
	AppID    int64
	State    string // public, draft, disabled
	Polls    []Poll
}

// Poll is one question of a guide.
type Poll struct {
	ID, Question, Type string // Type: NPSRating, FreeForm, PositiveNegative, NumberScale
}

// Activity is one raw interaction. The aggregation sources roll these up
// (events, featureEvents, pageEvents, trackEvents) or list them
// (guideEvents, pollEvents).
type Activity struct {
	Kind        string // page, feature, track, guide, poll
	VisitorID   string
	AccountID   string
	AppID       int64
	Time        time.Time
	PageID      string
	FeatureID   string
	TrackTypeID string
	GuideID     string
	GuideStepID string
	GuideType   string // guideSeen, guideAdvanced, guideDismissed, pollResponse
	PollID      string
	Response    any // a poll response: a number or a string
	Properties  map[string]any
	RemoteIP    string
	UserAgent   string
	Server      string
	URL         string
}

// AddApp adds an application (the subscription starts with DefaultAppID).
func (s *Server) AddApp(a App) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps = append(s.apps, a)
}

// AddFeature, AddPage and AddGuide tag product areas.
func (s *Server) AddFeature(f Feature) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.features = append(s.features, f)
}

// AddPage tags a page.
func (s *Server) AddPage(p Page) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pages = append(s.pages, p)
}

// AddGuide adds a guide.
func (s *Server) AddGuide(g Guide) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.guides = append(s.guides, g)
}

// Record stores raw activity, as the Pendo agent would send it. Track
// activity whose TrackTypeID is empty names its type in Properties["event"].
func (s *Server) Record(a ...Activity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range a {
		if x.AppID == 0 {
			x.AppID = DefaultAppID
		}
		s.activity = append(s.activity, x)
		s.touchVisit(x.VisitorID, x.AppID, x.Time)
		// Recorded activity is what the SDK sent: its webhooks fire too.
		if x.Kind == "track" {
			for _, tt := range s.trackTypes {
				if tt.ID == x.TrackTypeID {
					s.hookTrack(tt.Name, x.VisitorID, x.AccountID, x.Time, x.Properties)
				}
			}
		} else {
			s.hookActivity(x)
		}
	}
	s.activitySorted = false
}

// activityBetween returns the raw activity in [from, to), from a time
// index built on first use. Callers hold s.mu.
func (s *Server) activityBetween(from, to time.Time) []Activity {
	if !s.activitySorted {
		slices.SortStableFunc(s.activity, func(a, b Activity) int { return a.Time.Compare(b.Time) })
		s.activitySorted = true
	}
	lo, _ := slices.BinarySearchFunc(s.activity, from, func(a Activity, t time.Time) int { return a.Time.Compare(t) })
	hi, _ := slices.BinarySearchFunc(s.activity, to, func(a Activity, t time.Time) int { return a.Time.Compare(t) })
	return s.activity[lo:hi]
}

// touchVisit keeps auto.lastvisit and the per-app group auto__<appId>
// current, as Pendo's agent does. Callers hold s.mu.
func (s *Server) touchVisit(visitorID string, app int64, at time.Time) {
	v := s.visitors[visitorID]
	if v == nil {
		return
	}
	ms := at.UnixMilli()
	for _, g := range []string{"auto", fmt.Sprintf("auto__%d", app)} {
		if v.Metadata[g] == nil {
			v.Metadata[g] = map[string]any{"firstvisit": ms}
		}
		if lv, _ := v.Metadata[g]["lastvisit"].(int64); ms > lv {
			v.Metadata[g]["lastvisit"] = ms
		}
	}
}

// trackType finds or creates the track type of an event name. Callers
// hold s.mu.
func (s *Server) trackType(appID int64, name string) (*TrackType, error) {
	for i := range s.trackTypes {
		if t := &s.trackTypes[i]; t.Name == name && t.AppID == appID {
			return t, nil
		}
	}
	n := 0
	for _, t := range s.trackTypes {
		if t.AppID == appID {
			n++
		}
	}
	if n >= maxTrackTypes {
		return nil, fmt.Errorf("the app has %d track event names, Pendo's limit", maxTrackTypes)
	}
	s.trackTypes = append(s.trackTypes, TrackType{ID: "tt_" + shortHash(name), Name: name, AppID: appID})
	return &s.trackTypes[len(s.trackTypes)-1], nil
}

// Track event limits (Pendo's track events configuration).
const (
	maxTrackTypes      = 5000
	maxTrackProperties = 512 // bytes of properties JSON
	trackMaxAge        = 7 * 24 * time.Hour
)

var trackPropertyName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,31}$`)

// track serves POST /data/track on the data host: one event per request,
// authenticated with the app's track event shared secret (sent as
// x-pendo-integration-key, or x-pendo-track-event-secret). Pendo answers
// 200 even for events it will never process: older than 7 days. Properties
// over 512 bytes of JSON are replaced by Pendo's marker.
func (s *Server) track(w http.ResponseWriter, r *http.Request) {
	secret := r.Header.Get("X-Pendo-Track-Event-Secret")
	if secret == "" {
		secret = r.Header.Get("X-Pendo-Integration-Key")
	}
	if secret == "" || secret != s.opts.TrackSecret {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if !s.admit("data/track") {
		http.Error(w, "Too Many Requests", http.StatusTooManyRequests)
		return
	}
	var ev struct {
		Type       string          `json:"type"`
		Event      string          `json:"event"`
		VisitorID  string          `json:"visitorId"`
		AccountID  string          `json:"accountId"`
		Timestamp  *int64          `json:"timestamp"`
		Properties map[string]any  `json:"properties"`
		Context    json.RawMessage `json:"context"`
	}
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
		badRequest(w, "Bad Request: malformed JSON: "+err.Error())
		return
	}
	switch {
	case ev.Type != "track":
		badRequest(w, `Bad Request: type must be "track"`)
		return
	case ev.Event == "":
		badRequest(w, "Bad Request: event is required")
		return
	case ev.VisitorID == "":
		badRequest(w, "Bad Request: visitorId is required")
		return
	case ev.Timestamp == nil:
		badRequest(w, "Bad Request: timestamp (milliseconds since the epoch) is required")
		return
	case len(ev.Context) == 0 || ev.Context[0] != '{':
		badRequest(w, "Bad Request: context is required (it may be {})")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	at := time.UnixMilli(*ev.Timestamp)
	s.trackReceived++
	if s.now().Sub(at) > trackMaxAge {
		w.WriteHeader(http.StatusOK) // accepted, and silently never processed
		return
	}
	tt, err := s.trackType(DefaultAppID, ev.Event)
	if err != nil {
		w.WriteHeader(http.StatusOK) // Pendo drops events past the name limit, answering 200
		return
	}
	props := ev.Properties
	if raw, _ := json.Marshal(props); len(raw) > maxTrackProperties {
		props = map[string]any{"error": "event properties JSON too large"}
	}
	for k := range props {
		if !trackPropertyName.MatchString(k) || k == "__x__" {
			delete(props, k) // invalid names never show up in Pendo
		}
	}
	s.activity = append(s.activity, Activity{Kind: "track", VisitorID: ev.VisitorID, AccountID: ev.AccountID, AppID: DefaultAppID,
		Time: at, TrackTypeID: tt.ID, Properties: props})
	s.hookTrack(ev.Event, ev.VisitorID, ev.AccountID, at, props)
	s.activitySorted = false
	s.touchVisit(ev.VisitorID, DefaultAppID, at)
	w.WriteHeader(http.StatusOK)
}

// TrackReceived counts track requests the data host answered 200.
func (s *Server) TrackReceived() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.trackReceived
}

// catalogRows serves the features, pages, guides and trackTypes sources.
func (s *Server) catalogRows(source string, apps func(int64) bool) ([]map[string]any, error) {
	var rows []map[string]any
	switch source {
	case "features":
		for _, f := range s.features {
			if apps(f.AppID) {
				rows = append(rows, map[string]any{"id": f.ID, "name": f.Name, "appId": f.AppID, "kind": "Feature"})
			}
		}
	case "pages":
		for _, p := range s.pages {
			if apps(p.AppID) {
				rows = append(rows, map[string]any{"id": p.ID, "name": p.Name, "appId": p.AppID, "kind": "Page"})
			}
		}
	case "trackTypes":
		for _, t := range s.trackTypes {
			if apps(t.AppID) {
				rows = append(rows, map[string]any{"id": t.ID, "name": t.Name, "appId": t.AppID, "kind": "TrackType"})
			}
		}
	case "guides":
		for _, g := range s.guides {
			if !apps(g.AppID) {
				continue
			}
			polls := []any{}
			for _, p := range g.Polls {
				polls = append(polls, map[string]any{"id": p.ID, "question": p.Question, "attributes": map[string]any{"type": p.Type}})
			}
			rows = append(rows, map[string]any{"id": g.ID, "name": g.Name, "appId": g.AppID, "state": g.State, "polls": polls, "kind": "Guide"})
		}
	default:
		return nil, fmt.Errorf("unknown source %s", source)
	}
	slices.SortFunc(rows, func(a, b map[string]any) int { return strings.Compare(a["id"].(string), b["id"].(string)) })
	return rows, nil
}

func shortHash(s string) string {
	var h uint32 = 2166136261
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return fmt.Sprintf("%08x", h)
}

// Tracked returns the track events the emulator kept (those Pendo would
// process), in no particular order.
func (s *Server) Tracked() []Activity {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Activity
	for _, a := range s.activity {
		if a.Kind == "track" {
			out = append(out, a)
		}
	}
	return out
}

// Activities returns the raw activity of one kind (page, feature, track,
// guide, poll) the emulator holds, in no particular order, for tests to
// compare a read with.
func (s *Server) Activities(kind string) []Activity {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Activity
	for _, a := range s.activity {
		if a.Kind == kind {
			out = append(out, a)
		}
	}
	return out
}
