package hubspottest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// CRM webhooks (shared/reference/hubspot-lists-webhooks.md §5–7): an
// app's subscriptions, set from Go as a private app's settings page sets
// them (the management API is for legacy public apps only), and the
// deliveries they make: a JSON array of at most 100 notifications,
// subscriptionType named so, occurredAt in ms, signed v3 (and v1) with the
// app's client secret over the exact target URL, retried up to 10 times
// on any non-2xx answer or one slower than 5 s. DeliverWebhooks sends
// what is due at the emulator's present, so retries follow its clock.

// Webhooks are an app's webhook settings.
type Webhooks struct {
	// TargetURL receives the deliveries.
	TargetURL string
	// ClientSecret signs them.
	ClientSecret string
	AppID        int
	// Subscriptions: "contact.creation", "contact.deletion",
	// "contact.propertyChange:firstname" (one per property, as HubSpot
	// has it), and the same for company and deal.
	Subscriptions []string
	// MaxBatch is the most notifications one delivery carries (≤ 100,
	// the default).
	MaxBatch int
	// HTTPClient sends them; default http.DefaultClient with a 5 s
	// timeout.
	HTTPClient *http.Client
	// Duplicate sends every delivery twice (HubSpot may).
	Duplicate bool
}

// webhookRetryDelays are the waits before each retry, by attempt: spread
// over the next day, as HubSpot's are ("up to 10 times over 24 hours").
var webhookRetryDelays = []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 4 * time.Hour, 6 * time.Hour, 8 * time.Hour}

// hookState is the sender's queue.
type hookState struct {
	cfg       *Webhooks
	subs      map[string]int64 // subscription → its id
	pending   []*pendingHook
	nextEvent int64
	// Delivered, Retried and Dropped count deliveries.
	delivered, retried, dropped int
}

type pendingHook struct {
	n       map[string]any
	attempt int
	due     time.Time
}

// SetWebhooks replaces the app's webhook settings; nil stops deliveries
// (what is pending is dropped).
func (s *Server) SetWebhooks(w *Webhooks) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hooks = hookState{cfg: w, subs: map[string]int64{}}
	if w == nil {
		return
	}
	for i, sub := range w.Subscriptions {
		s.hooks.subs[sub] = int64(1000 + i)
	}
}

// webhookObject is the subscription prefix of an object type.
var webhookObject = map[string]string{"contacts": "contact", "companies": "company", "deals": "deal", "tickets": "ticket"}

// observe turns a record's new version into notifications for the
// subscriptions it matches. Called with s.mu held.
func (s *Server) observe(t *objectType, o *Object, before *version) {
	h := &s.hooks
	kind := webhookObject[t.name]
	if h.cfg == nil || kind == "" {
		return
	}
	at := s.now()
	add := func(sub string, extra map[string]any) {
		id, ok := h.subs[sub]
		if !ok {
			return
		}
		h.nextEvent++
		oid, _ := strconv.ParseInt(o.ID, 10, 64)
		typ, _, _ := strings.Cut(sub, ":")
		n := map[string]any{"eventId": h.nextEvent, "subscriptionId": id, "portalId": s.opts.PortalID, "appId": h.cfg.AppID,
			"occurredAt": at.UnixMilli(), "subscriptionType": typ, "attemptNumber": 0, "objectId": oid,
			"changeSource": "CRM_UI", "sourceId": "userId:1"}
		for k, v := range extra {
			n[k] = v
		}
		h.pending = append(h.pending, &pendingHook{n: n, due: at})
	}
	switch {
	case before == nil:
		add(kind+".creation", map[string]any{"changeFlag": "CREATED"})
	case o.Archived && !before.archived:
		add(kind+".deletion", map[string]any{"changeFlag": "DELETED"})
	case !o.Archived:
		for _, name := range slices.Sorted(func(yield func(string) bool) {
			for k := range o.Properties {
				if !yield(k) {
					return
				}
			}
			for k := range before.props {
				if _, ok := o.Properties[k]; !ok && !yield(k) {
					return
				}
			}
		}) {
			if o.Properties[name] != before.props[name] {
				add(kind+".propertyChange:"+name, map[string]any{"propertyName": name, "propertyValue": o.Properties[name]})
			}
		}
	}
}

// PendingWebhooks is how many notifications wait to be delivered.
func (s *Server) PendingWebhooks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.hooks.pending)
}

// WebhookCounts are the deliveries answered 2xx, retried and given up.
func (s *Server) WebhookCounts() (delivered, retried, dropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hooks.delivered, s.hooks.retried, s.hooks.dropped
}

// DeliverWebhooks sends every notification due at the emulator's present,
// in deliveries of at most MaxBatch; one that fails is retried later by
// the emulator's clock, with its attemptNumber raised, at most 10 times.
// It returns how many deliveries were answered 2xx.
func (s *Server) DeliverWebhooks(ctx context.Context) (int, error) {
	s.mu.Lock()
	cfg := s.hooks.cfg
	now := s.now()
	var due, later []*pendingHook
	for _, p := range s.hooks.pending {
		if p.due.After(now) {
			later = append(later, p)
		} else {
			due = append(due, p)
		}
	}
	s.hooks.pending = later
	s.mu.Unlock()
	if cfg == nil || len(due) == 0 {
		return 0, nil
	}
	size := cfg.MaxBatch
	if size <= 0 || size > 100 {
		size = 100
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	ok := 0
	for start := 0; start < len(due); start += size {
		batch := due[start:min(start+size, len(due))]
		ns := make([]map[string]any, len(batch))
		for i, p := range batch {
			p.n["attemptNumber"] = p.attempt
			ns[i] = p.n
		}
		body, err := json.Marshal(ns)
		if err != nil {
			return ok, err
		}
		sent := s.post(ctx, client, cfg, body, now)
		if sent && cfg.Duplicate {
			s.post(ctx, client, cfg, body, now)
		}
		s.mu.Lock()
		if sent {
			ok++
			s.hooks.delivered++
		} else {
			for _, p := range batch {
				if p.attempt >= len(webhookRetryDelays) {
					s.hooks.dropped++
					continue
				}
				p.due = now.Add(webhookRetryDelays[p.attempt])
				p.attempt++
				s.hooks.pending = append(s.hooks.pending, p)
			}
			s.hooks.retried++
		}
		s.mu.Unlock()
		if ctx.Err() != nil {
			return ok, ctx.Err()
		}
	}
	return ok, nil
}

// post sends one signed delivery; true when it was answered 2xx.
func (s *Server) post(ctx context.Context, client *http.Client, cfg *Webhooks, body []byte, now time.Time) bool {
	req, err := http.NewRequestWithContext(ctx, "POST", cfg.TargetURL, bytes.NewReader(body))
	if err != nil {
		return false
	}
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	mac := hmac.New(sha256.New, []byte(cfg.ClientSecret))
	fmt.Fprint(mac, "POST", cfg.TargetURL, string(body), ts)
	v1 := sha256.Sum256(append([]byte(cfg.ClientSecret), body...))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-HubSpot-Signature-v3", base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	req.Header.Set("X-HubSpot-Request-Timestamp", ts)
	req.Header.Set("X-HubSpot-Signature", hex.EncodeToString(v1[:]))
	req.Header.Set("X-HubSpot-Signature-Version", "v1")
	req.Header.Set("User-Agent", "HubSpot Connect 2.0 (http://dev.hubspot.com/)")
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}
