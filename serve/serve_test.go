package serve_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	api "github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	pendoapi "github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
	"github.com/backflow-dev/backflow/connector/builtin"
	"github.com/backflow-dev/backflow/examples"
	"github.com/backflow-dev/backflow/internal/clock"
	"github.com/backflow-dev/backflow/pipeline"
	"github.com/backflow-dev/backflow/project"
	"github.com/backflow-dev/backflow/sandbox"
	"github.com/backflow-dev/backflow/serve"
	"github.com/backflow-dev/backflow/warehouse"
)

const (
	clientSecret = "serve-test-client-secret"
	pendoToken   = "serve-test-pendo-token-4f2a9c"
)

// testSandbox is a sandbox of contacts on a clock that stands at
// 2026-12-01 15:00 UTC until a test moves it.
func testSandbox(t *testing.T, contacts int) (*clock.Manual, *sandbox.Sandbox) {
	t.Helper()
	clk := clock.NewManual(time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC))
	sb, err := sandbox.Start(sandbox.Options{Contacts: contacts, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sb.Close)
	return clk, sb
}

// served is a serve process over a sandbox, running the HubSpot → Pendo
// metadata recipe with HubSpot webhooks configured.
type served struct {
	t    testing.TB
	sb   *sandbox.Sandbox
	url  string
	stop chan struct{}
	done chan error
	// patience bounds each waitFor; default a minute.
	patience time.Duration
}

func startServe(t *testing.T, db string, clk *clock.Manual, sb *sandbox.Sandbox) *served {
	t.Helper()
	return startServeWith(t, serveConfig{db: db, now: clk.Now, sb: sb, debounce: 10 * time.Millisecond})
}

func startServeDebounced(t *testing.T, db string, clk *clock.Manual, sb *sandbox.Sandbox, debounce time.Duration) *served {
	t.Helper()
	return startServeWith(t, serveConfig{db: db, now: clk.Now, sb: sb, debounce: debounce})
}

// serveConfig is one serve process of a test or benchmark.
type serveConfig struct {
	db       string
	now      func() time.Time
	sb       *sandbox.Sandbox
	debounce time.Duration
	poll     time.Duration
	budget   float64
	queue    serve.QueueOptions
	retry    time.Duration
	// files is the project; nil is the HubSpot → Pendo metadata recipe
	// with both connectors' webhooks.
	files fstest.MapFS
}

// recipeWithWebhooks is the HubSpot → Pendo metadata recipe with both
// connectors' webhooks configured.
func recipeWithWebhooks(t testing.TB) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	err := fs.WalkDir(examples.Recipe("hubspot-to-pendo-metadata"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(examples.Recipe("hubspot-to-pendo-metadata"), p)
		if p == project.ConfigFile {
			b = bytes.Replace(b, []byte("hubspot:\n"), []byte("hubspot:\n  webhooks: {client_secret_env: HUBSPOT_CLIENT_SECRET}\n"), 1)
			b = bytes.Replace(b, []byte("pendo:\n"), []byte("pendo:\n  webhooks: {token_env: PENDO_WEBHOOK_TOKEN}\n"), 1)
		}
		fsys[p] = &fstest.MapFile{Data: b}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return fsys
}

// pendoEventsProject sends each Pendo track event that arrives by
// webhook to HubSpot as the custom event pendo_feature_used, on the
// visitor's matched contact: a model over backflow.changes.
func pendoEventsProject() fstest.MapFS {
	return fstest.MapFS{
		"backflow.yml": {Data: []byte(`name: pendo_webhooks_to_hubspot
warehouse: warehouse.duckdb
hubspot:
  token_env: HUBSPOT_TOKEN
  extract:
    objects: [contacts]
pendo:
  integration_key_env: PENDO_INTEGRATION_KEY
  timezone: America/New_York
  webhooks: {token_env: PENDO_WEBHOOK_TOKEN}
  extract:
    streams: [visitors]
`)},
		"models/webhook_track_events.sql": {Data: []byte(`-- Pendo track events as their webhooks delivered them (backflow serve),
-- one HubSpot event each, keyed by Pendo's uniqueId.
SELECT c.change_key AS event_key, i.contact_id, c.occurred_at,
       json_extract_string(c.payload, '$.properties.name') AS feature,
       1.0 AS num_events, 0.0 AS num_minutes
FROM backflow.changes c
JOIN models.identity_contacts_visitors i ON i.visitor_id = json_extract_string(c.payload, '$.visitorId') AND i.status = 'matched'
WHERE c.source = 'pendo' AND c.kind = 'trackEventReceived'
`)},
		"syncs/webhook_track_events.yml": {Data: []byte(`model: webhook_track_events
destination: hubspot
object: events
event: pendo_feature_used
key: event_key
fields:
  contact_id: objectId
  occurred_at: occurredAt
  feature: feature
  num_events: num_events
  num_minutes: num_minutes
`)},
	}
}

// projectOptions loads a project (nil files: the metadata recipe with
// webhooks) against sb, its secrets resolved, as pipeline options.
func projectOptions(t testing.TB, sb *sandbox.Sandbox, db string, fsys fstest.MapFS) pipeline.Options {
	t.Helper()
	if fsys == nil {
		fsys = recipeWithWebhooks(t)
	}
	p, err := project.LoadWith(fsys, "serve", builtin.Connectors(), project.Options{Set: sb.Settings()})
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := p.Secrets(func(name string) (string, bool) {
		switch name {
		case "HUBSPOT_CLIENT_SECRET":
			return clientSecret, true
		case "PENDO_WEBHOOK_TOKEN":
			return pendoToken, true
		}
		return sb.Lookup(name)
	})
	if err != nil {
		t.Fatal(err)
	}
	return pipeline.Options{Project: p.Pipeline(), WarehousePath: db, Secrets: secrets}
}

func startServeWith(t testing.TB, c serveConfig) *served {
	t.Helper()
	sb := c.sb
	po := projectOptions(t, sb, c.db, c.files)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &served{t: t, sb: sb, url: "http://" + ln.Addr().String(), stop: make(chan struct{}), done: make(chan error, 1)}
	go func() {
		s.done <- serve.Run(context.Background(), serve.Options{
			Pipeline: po,
			Listener: ln, Debounce: c.debounce, Poll: c.poll, PollBudget: c.budget, Queue: c.queue, RetryDelay: c.retry, Full: time.Hour, Stop: s.stop, Now: c.now})
	}()
	s.waitFor("ready", func() bool { return s.get("/readyz") == http.StatusOK })
	return s
}

// waitFor polls cond until it holds, for at most s.patience: serve
// cycles on its own goroutine.
func (s *served) waitFor(what string, cond func() bool) {
	s.t.Helper()
	patience := s.patience
	if patience == 0 {
		patience = time.Minute
	}
	for deadline := time.Now().Add(patience); !cond(); {
		select {
		case err := <-s.done:
			s.t.Fatalf("serve ended while waiting for %s: %v", what, err)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("serve: %s did not happen within %s", what, patience)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *served) get(path string) int {
	resp, err := http.Get(s.url + path)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (s *served) metric(name string) float64 {
	s.t.Helper()
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	total := 0.0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			total += v
		}
	}
	return total
}

// deliver posts a HubSpot delivery signed with secret, timestamped at
// the serve clock's present, and returns the status and body.
func (s *served) deliver(secret string, at time.Time, ns ...api.Notification) (int, string) {
	s.t.Helper()
	body, _ := json.Marshal(ns)
	req, _ := http.NewRequest("POST", s.url+"/hooks/hubspot", bytes.NewReader(body))
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	req.Header.Set(api.HeaderTimestamp, ts)
	req.Header.Set(api.HeaderSignatureV3, api.SignV3(secret, "POST", s.url+"/hooks/hubspot", body, ts))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

func (s *served) shutdown() {
	s.t.Helper()
	close(s.stop)
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Fatalf("serve returned %v after a stop, want nil", err)
		}
	case <-time.After(time.Minute):
		s.t.Fatal("serve did not stop within a minute")
	}
}

// matchedVisitor is a visitor the first cycle gave a HubSpot first name,
// and its contact.
func matchedVisitor(t testing.TB, sb *sandbox.Sandbox) (visitor, contact string) {
	t.Helper()
	pairs := matchedVisitors(t, sb, 1)
	return pairs[0][0], pairs[0][1]
}

// matchedVisitors are n such visitors and their contacts.
func matchedVisitors(t testing.TB, sb *sandbox.Sandbox, n int) [][2]string {
	t.Helper()
	var out [][2]string
	byEmail := map[string]string{}
	for _, id := range sb.HubSpot.ObjectIDs("contacts") {
		o, _ := sb.HubSpot.Object("contacts", id)
		byEmail[strings.ToLower(o.Properties["email"])] = id
	}
	for _, v := range sb.Pendo.VisitorIDs() {
		md, _ := sb.Pendo.Visitor(v)
		email, _ := md["agent"]["email"].(string)
		if c, ok := byEmail[strings.ToLower(strings.TrimSpace(email))]; ok && md["custom"]["hubspot_firstname"] != nil {
			out = append(out, [2]string{v, c})
			if len(out) == n {
				return out
			}
		}
	}
	t.Fatalf("%d visitors carry a HubSpot first name after the first cycle, want %d", len(out), n)
	return nil
}

// TestServe_Webhook: a contact changed in HubSpot reaches its Pendo
// visitor through one signed delivery; a retry of the delivery is stored
// once; a wrong secret, a stale timestamp or no signature is 401 and
// stores nothing; SIGTERM's stop ends serve with nil.
func TestServe_Webhook(t *testing.T) {
	clk, sb := testSandbox(t, 200)
	s := startServe(t, filepath.Join(t.TempDir(), "w.duckdb"), clk, sb)
	visitor, contact := matchedVisitor(t, sb)
	clk.Advance(time.Minute)
	if err := sb.HubSpot.UpdateObject("contacts", contact, map[string]string{"firstname": "Webhooked"}); err != nil {
		t.Fatal(err)
	}
	// The delivery comes at once: the cycle reads the contact by id, so
	// search's lag (3 s) does not hide the change.
	id, _ := strconv.ParseInt(contact, 10, 64)
	n := api.Notification{EventID: 1, SubscriptionID: 7, PortalID: 62515, AppID: 1, OccurredAt: clk.Now().UnixMilli(),
		SubscriptionType: "contact.propertyChange", ObjectID: id, PropertyName: "firstname", PropertyValue: "Webhooked", ChangeSource: "CRM_UI"}

	for _, tt := range []struct {
		name   string
		secret string
		at     time.Time
	}{
		{"wrong_secret", "not-the-secret", clk.Now()},
		{"stale_timestamp", clientSecret, clk.Now().Add(-6 * time.Minute)},
	} {
		if code, body := s.deliver(tt.secret, tt.at, n); code != http.StatusUnauthorized {
			t.Errorf("%s: %d %s, want 401", tt.name, code, body)
		}
	}
	unsigned, _ := http.Post(s.url+"/hooks/hubspot", "application/json", strings.NewReader(`[]`))
	if unsigned.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned: %d, want 401", unsigned.StatusCode)
	}
	unsigned.Body.Close()
	if got := s.metric("backflow_serve_changes_total"); got != 0 {
		t.Fatalf("refused deliveries stored %v changes", got)
	}

	sentAt := clk.Now()
	if code, body := s.deliver(clientSecret, sentAt, n); code != http.StatusOK || body != `{"duplicates":0,"stored":1}` {
		t.Fatalf("delivery: %d %s", code, body)
	}
	// A replay of the very request: inside the signature's window it is
	// stored no more; past it, refused.
	if code, body := s.deliver(clientSecret, sentAt, n); code != http.StatusOK || body != `{"duplicates":1,"stored":0}` {
		t.Fatalf("replay: %d %s, want it stored once", code, body)
	}
	retry := n
	retry.AttemptNumber = 1
	if code, body := s.deliver(clientSecret, clk.Now(), retry); code != http.StatusOK || body != `{"duplicates":1,"stored":0}` {
		t.Fatalf("retry: %d %s, want it stored once", code, body)
	}
	s.waitFor("the visitor updated", func() bool {
		md, _ := sb.Pendo.Visitor(visitor)
		return md["custom"]["hubspot_firstname"] == "Webhooked"
	})
	s.waitFor("the changes cycle counted", func() bool { return s.metric("backflow_serve_queue_depth") == 0 })
	if got := s.metric(`backflow_serve_cycles_total{kind="changes",outcome="ok"}`); got != 1 {
		t.Errorf("%v changes cycles, want 1 (the delivery's)", got)
	}
	if got := s.metric("backflow_serve_rows_sent_total"); got < 1 {
		t.Errorf("rows_sent_total %v", got)
	}
	if code := s.get("/healthz"); code != http.StatusOK {
		t.Errorf("healthz %d", code)
	}
	clk.Advance(6 * time.Minute)
	if code, body := s.deliver(clientSecret, sentAt, n); code != http.StatusUnauthorized {
		t.Errorf("a replay 6 minutes on: %d %s, want 401", code, body)
	}
	s.shutdown()
}

// TestServe_RestartKeepsTheQueue: a change stored when serve stops before
// its cycle is sent by the next serve's first cycle, once.
func TestServe_RestartKeepsTheQueue(t *testing.T) {
	clk, sb := testSandbox(t, 200)
	db := filepath.Join(t.TempDir(), "w.duckdb")
	s := startServe(t, db, clk, sb)
	visitor, contact := matchedVisitor(t, sb)
	s.shutdown()

	// Stored by a serve that stops at once: Debounce never ends.
	s2 := startServeDebounced(t, db, clk, sb, time.Hour)
	clk.Advance(time.Minute)
	if err := sb.HubSpot.UpdateObject("contacts", contact, map[string]string{"firstname": "Queued"}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Second)
	id, _ := strconv.ParseInt(contact, 10, 64)
	n := api.Notification{SubscriptionID: 7, OccurredAt: clk.Now().Add(-5 * time.Second).UnixMilli(), SubscriptionType: "contact.propertyChange",
		ObjectID: id, PropertyName: "firstname", PropertyValue: "Queued"}
	if code, body := s2.deliver(clientSecret, clk.Now(), n); code != http.StatusOK {
		t.Fatalf("delivery: %d %s", code, body)
	}
	if md, _ := sb.Pendo.Visitor(visitor); md["custom"]["hubspot_firstname"] == "Queued" {
		t.Fatal("sent before the restart")
	}
	s2.shutdown()

	s3 := startServe(t, db, clk, sb) // its first cycle takes the queue
	if md, _ := sb.Pendo.Visitor(visitor); md["custom"]["hubspot_firstname"] != "Queued" {
		t.Fatalf("after the restart the visitor holds %v", md["custom"]["hubspot_firstname"])
	}
	if got := s3.metric("backflow_serve_queue_depth"); got != 0 {
		t.Errorf("queue depth %v after the first cycle", got)
	}
	s3.shutdown()
	w, err := warehouse.Open(context.Background(), db, warehouse.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var rows, done int
	var command string
	if err := w.DB().QueryRow(`SELECT count(*), count(done_at), (SELECT command FROM backflow.runs r WHERE r.run_id IS NOT NULL ORDER BY run_id DESC LIMIT 1)
		FROM backflow.changes`).Scan(&rows, &done, &command); err != nil || rows != 1 || done != 1 || command != "serve" {
		t.Fatalf("backflow.changes: %d rows, %d done, last run %q (%v); want the one change done by a serve cycle", rows, done, command, err)
	}
}

// TestServe_EmulatorWebhooks: the HubSpot emulator's own subscription
// delivers a contact change, signed, and serve sends it on to Pendo.
func TestServe_EmulatorWebhooks(t *testing.T) {
	clk, sb := testSandbox(t, 200)
	s := startServe(t, filepath.Join(t.TempDir(), "w.duckdb"), clk, sb)
	sb.SendWebhooks(&hubspottest.Webhooks{TargetURL: s.url + "/hooks/hubspot", ClientSecret: clientSecret, AppID: 1,
		Subscriptions: []string{"contact.propertyChange:firstname"}}, 20*time.Millisecond)
	visitor, contact := matchedVisitor(t, sb)
	if err := sb.HubSpot.UpdateObject("contacts", contact, map[string]string{"firstname": "Delivered"}); err != nil {
		t.Fatal(err)
	}
	s.waitFor("the visitor updated", func() bool {
		md, _ := sb.Pendo.Visitor(visitor)
		return md["custom"]["hubspot_firstname"] == "Delivered"
	})
	if d, _, _ := sb.HubSpot.WebhookCounts(); d != 1 {
		t.Errorf("%d deliveries, want 1", d)
	}
	s.shutdown()
}

// TestServe_Poll: without webhooks, a probe finds the changed contact
// (after search's lag) and a poll cycle sends it; polls with nothing new
// run no cycle (after the one reading back what that cycle wrote).
func TestServe_Poll(t *testing.T) {
	clk, sb := testSandbox(t, 200)
	s := startServeWith(t, serveConfig{db: filepath.Join(t.TempDir(), "w.duckdb"), now: clk.Now, sb: sb, debounce: 10 * time.Millisecond,
		poll: 200 * time.Millisecond, budget: 1})
	idle := func() float64 { return s.metric(`backflow_serve_cycles_total{kind="poll",outcome="idle"}`) }
	ran := func() float64 { return s.metric(`backflow_serve_cycles_total{kind="poll",outcome="ok"}`) }
	s.waitFor("an idle poll", func() bool { return idle() >= 1 })
	if ran() != 0 {
		t.Fatalf("%v polls ran a cycle with nothing changed", ran())
	}
	visitor, contact := matchedVisitor(t, sb)
	clk.Advance(time.Minute)
	if err := sb.HubSpot.UpdateObject("contacts", contact, map[string]string{"firstname": "Polled"}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(5 * time.Second) // past search's lag
	s.waitFor("the visitor updated", func() bool {
		md, _ := sb.Pendo.Visitor(visitor)
		return md["custom"]["hubspot_firstname"] == "Polled"
	})
	s.waitFor("the poll cycle counted", func() bool { return ran() >= 1 })
	// The cycle's own writes to Pendo move its visitors' lastupdated: the
	// next probe reads them back once; then the polls are idle.
	for i, settled := 0, false; !settled; i++ {
		if i == 10 {
			t.Fatalf("the polls never settled: %v cycles ran", ran())
		}
		r, before := ran(), idle()
		s.waitFor("two more idle polls", func() bool { return idle() >= before+2 })
		settled = ran() == r
	}
	if got := ran(); got > 2 {
		t.Fatalf("%v poll cycles ran for one change, want it and the read-back of its own writes", got)
	}
	if got := s.metric("backflow_serve_daily_budget_left"); got <= 0 {
		t.Errorf("daily budget left %v", got)
	}
	s.shutdown()
}

// TestServe_PendoBurst: 10,000 Pendo events from 40 senders at once, into
// a queue that lets 8 deliveries wait: those beyond are answered 503 with
// Retry-After and retried; every event is stored once; a wrong token is
// 401.
func TestServe_PendoBurst(t *testing.T) {
	clk, sb := testSandbox(t, 100)
	s := startServeWith(t, serveConfig{db: filepath.Join(t.TempDir(), "w.duckdb"), now: clk.Now, sb: sb, debounce: time.Hour,
		queue: serve.QueueOptions{Waiting: 8}})
	event := func(i int) string {
		return fmt.Sprintf(`{"event":"trackEventReceived","visitorId":"user-%d","accountId":"acme","timestamp":%d,"uniqueId":"%040x","properties":{"n":%d}}`,
			i%300, clk.Now().Unix(), i+1, i)
	}
	post := func(token, body string) (int, string) {
		resp, err := http.Post(s.url+"/hooks/pendo?token="+token, "application/json", strings.NewReader(body))
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	if code, _ := post("wrong-token", event(0)); code != http.StatusUnauthorized {
		t.Fatalf("a wrong token: %d, want 401", code)
	}
	var mu sync.Mutex
	busy := 0
	var wg sync.WaitGroup
	for sender := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := sender; i < 10_000; i += 40 {
				for {
					code, retry := post(pendoToken, event(i))
					if code == http.StatusOK {
						break
					}
					if code != http.StatusServiceUnavailable || retry == "" {
						t.Errorf("event %d: %d", i, code)
						return
					}
					mu.Lock()
					busy++
					mu.Unlock()
					time.Sleep(10 * time.Millisecond) // a real sender waits Retry-After
				}
			}
		}()
	}
	wg.Wait()
	// A duplicate of each of a hundred is stored no more.
	for i := range 100 {
		post(pendoToken, event(i))
	}
	if got := s.metric(`backflow_serve_changes_total{source="pendo"}`); got != 10_000 {
		t.Fatalf("%v changes stored, want 10000", got)
	}
	if got := s.metric(`backflow_serve_duplicate_changes_total{source="pendo"}`); got != 100 {
		t.Errorf("%v duplicates, want 100", got)
	}
	if got := s.metric("backflow_serve_queue_depth"); got != 10_000 {
		t.Errorf("queue depth %v, want 10000 (the debounce holds the cycle)", got)
	}
	t.Logf("%d deliveries answered 503 and retried", busy)
	s.shutdown()
}

// TestServe_PendoEventToHubSpot: a track event Pendo's data host accepts
// reaches HubSpot as a custom event through Pendo's webhook and serve,
// once, whatever Pendo resends.
func TestServe_PendoEventToHubSpot(t *testing.T) {
	clk, sb := testSandbox(t, 200)
	s := startServeWith(t, serveConfig{db: filepath.Join(t.TempDir(), "w.duckdb"), now: clk.Now, sb: sb, debounce: 10 * time.Millisecond,
		files: pendoEventsProject()})
	sb.SendPendoWebhooks(&pendotest.Webhook{URL: s.url + "/hooks/pendo?token=" + pendoToken}, 20*time.Millisecond)
	visitor, contact := oneToOne(t, sb)
	before := len(sb.HubSpot.Events())
	trackEvent(t, sb, clk.Now(), visitor, "report_exported")
	s.waitFor("the HubSpot event", func() bool { return len(sb.HubSpot.Events()) > before })
	e := sb.HubSpot.Events()[before]
	if e.ObjectID != contact || e.Properties["feature"] != "report_exported" {
		t.Fatalf("HubSpot event %+v, want contact %s and feature report_exported", e, contact)
	}
	s.waitFor("the cycle done", func() bool { return s.metric("backflow_serve_queue_depth") == 0 })
	// Full cycles, polls, restarts: the event is never sent again.
	if resp, err := http.Post(s.url+"/run", "", nil); err == nil {
		resp.Body.Close()
	}
	s.waitFor("the full cycle", func() bool { return s.metric(`backflow_serve_cycles_total{kind="full",outcome="ok"}`) >= 2 })
	if n := len(sb.HubSpot.Events()) - before; n != 1 {
		t.Fatalf("%d HubSpot events, want 1", n)
	}
	s.shutdown()
}

// oneToOne is a visitor and a contact whose emails match each other's and
// no other's: the identity model matches them.
func oneToOne(t testing.TB, sb *sandbox.Sandbox) (visitor, contact string) {
	t.Helper()
	contacts, visitors := map[string][]string{}, map[string][]string{}
	for _, id := range sb.HubSpot.ObjectIDs("contacts") {
		o, _ := sb.HubSpot.Object("contacts", id)
		e := strings.ToLower(strings.TrimSpace(o.Properties["email"]))
		contacts[e] = append(contacts[e], id)
	}
	for _, v := range sb.Pendo.VisitorIDs() {
		md, _ := sb.Pendo.Visitor(v)
		email, _ := md["agent"]["email"].(string)
		e := strings.ToLower(strings.TrimSpace(email))
		visitors[e] = append(visitors[e], v)
	}
	for _, e := range slices.Sorted(maps.Keys(visitors)) {
		if e != "" && len(visitors[e]) == 1 && len(contacts[e]) == 1 {
			return visitors[e][0], contacts[e][0]
		}
	}
	t.Fatal("no visitor and contact match one to one")
	return "", ""
}

// trackEvent sends a track event to the sandbox's Pendo data host, as an
// app's backend would.
func trackEvent(t testing.TB, sb *sandbox.Sandbox, at time.Time, visitor, event string) {
	t.Helper()
	c, err := pendoapi.New(pendoapi.Config{BaseURL: sb.PendoURL, DataURL: sb.PendoURL, IntegrationKey: sb.PendoKey, TrackSecret: sb.PendoTrackSecret,
		Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Track(context.Background(), pendoapi.TrackEvent{Event: event, VisitorID: visitor, Timestamp: at}); err != nil {
		t.Fatal(err)
	}
}

// TestServe_FailedCycleRetried: a changes cycle HubSpot refuses keeps its
// change queued, and the change is sent by the retry, with no new
// delivery.
func TestServe_FailedCycleRetried(t *testing.T) {
	clk, sb := testSandbox(t, 200)
	s := startServeWith(t, serveConfig{db: filepath.Join(t.TempDir(), "w.duckdb"), now: clk.Now, sb: sb, debounce: 10 * time.Millisecond,
		retry: 200 * time.Millisecond})
	visitor, contact := matchedVisitor(t, sb)
	if err := sb.HubSpot.UpdateObject("contacts", contact, map[string]string{"firstname": "Retried"}); err != nil {
		t.Fatal(err)
	}
	sb.HubSpot.FailNext(http.StatusForbidden) // the cycle's batch read
	id, _ := strconv.ParseInt(contact, 10, 64)
	n := api.Notification{SubscriptionID: 7, OccurredAt: clk.Now().UnixMilli(), SubscriptionType: "contact.propertyChange",
		ObjectID: id, PropertyName: "firstname", PropertyValue: "Retried"}
	if code, body := s.deliver(clientSecret, clk.Now(), n); code != http.StatusOK {
		t.Fatalf("delivery: %d %s", code, body)
	}
	s.waitFor("the failed cycle", func() bool { return s.metric(`backflow_serve_cycles_total{kind="changes",outcome="error"}`) == 1 })
	s.waitFor("the visitor updated by the retry", func() bool {
		md, _ := sb.Pendo.Visitor(visitor)
		return md["custom"]["hubspot_firstname"] == "Retried"
	})
	s.waitFor("the queue empty", func() bool { return s.metric("backflow_serve_queue_depth") == 0 })
	if got := s.metric(`backflow_serve_changes_total{source="hubspot"}`); got != 1 {
		t.Errorf("%v changes stored, want the one delivery's", got)
	}
	s.shutdown()
}
