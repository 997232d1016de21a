// Package sandbox serves the HubSpot and Pendo emulators seeded with one
// realistic, deterministic data set in which people exist on both sides,
// so identity matching has real work: stray case and whitespace in HubSpot
// emails, plus-addressing, free-mail domains, Pendo visitors HubSpot lacks,
// and anonymous visitors.
package sandbox

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
)

// Credentials the sandbox accepts by default.
const (
	HubSpotToken        = "pat-na1-sandbox-token"
	PendoIntegrationKey = "sandbox-pendo-integration-key"
	PendoTrackSecret    = "sandbox-pendo-track-secret"
	// The sandbox's OAuth app, for trying `backflow auth hubspot`.
	OAuthClientID     = "sandbox-client-id"
	OAuthClientSecret = "sandbox-client-secret"
)

// Options size the seeded data.
type Options struct {
	Seed     uint64
	Contacts int // HubSpot contacts; default 2,000
	// MatchRate is the share of contacts that are also Pendo visitors;
	// default 0.85.
	MatchRate float64
	// ExtraVisitors are identified visitors HubSpot does not have; default 300.
	ExtraVisitors int
	// Anonymous visitors (_PENDO_T_…); default 50.
	Anonymous int
	// Token, when set, is accepted as the HubSpot private-app token and as
	// the Pendo integration key instead of the defaults.
	Token string
	// HubSpotAddr and PendoAddr are listen addresses; default
	// 127.0.0.1:0 (a free port).
	HubSpotAddr, PendoAddr string
	// HubSpot tunes the HubSpot emulator (rate limits, faults).
	HubSpot hubspottest.Options
	// Pendo tunes the Pendo emulator (bulk processing speed, faults); its
	// keys are the sandbox's.
	Pendo pendotest.Options
	// Now is the present of both emulators: their seeded history ends
	// there, and the data they are sent is stamped by it. Default the
	// system clock; `backflow sandbox --now` moves on from a given instant.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.Contacts == 0 {
		o.Contacts = 2000
	}
	if o.MatchRate == 0 {
		o.MatchRate = 0.85
	}
	if o.ExtraVisitors == 0 {
		o.ExtraVisitors = 300
	}
	if o.Anonymous == 0 {
		o.Anonymous = 50
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Sandbox is a pair of running emulators.
type Sandbox struct {
	HubSpot    *hubspottest.Server
	Pendo      *pendotest.Server
	HubSpotURL string
	PendoURL   string
	// HubSpotToken, PendoKey and PendoTrackSecret are the credentials
	// they accept.
	HubSpotToken, PendoKey, PendoTrackSecret string

	servers []*http.Server
	stop    []func()
}

// PendoCustomFields are the visitor custom fields the sandbox declares, as
// an admin would in Pendo's Data Mappings.
var PendoCustomFields = map[string]string{
	"lifecyclestage":     "string",
	"lead_status":        "string",
	"hubspot_score":      "float",
	"hubspot_created_at": "time",
	"is_customer":        "boolean",
}

// PendoAccountFields are the account custom fields the sandbox declares.
var PendoAccountFields = map[string]string{
	"industry":      "string",
	"employees":     "integer",
	"annualrevenue": "float",
}

// Start seeds both emulators and serves them.
func Start(opts Options) (*Sandbox, error) {
	opts.setDefaults()
	s := &Sandbox{HubSpotToken: HubSpotToken, PendoKey: PendoIntegrationKey, PendoTrackSecret: PendoTrackSecret}
	if opts.Token != "" {
		s.HubSpotToken, s.PendoKey, s.PendoTrackSecret = opts.Token, opts.Token, opts.Token
	}
	hsOpts := opts.HubSpot
	if hsOpts.Now == nil {
		hsOpts.Now = opts.Now
	}
	hsOpts.Tokens = append(hsOpts.Tokens, s.HubSpotToken)
	if hsOpts.OAuth.ClientID == "" {
		hsOpts.OAuth = hubspottest.OAuthApp{ClientID: OAuthClientID, ClientSecret: OAuthClientSecret,
			RedirectURIs: []string{"http://localhost:8976/oauth-callback", "http://127.0.0.1:8976/oauth-callback"}}
	}
	s.HubSpot = hubspottest.New(hsOpts)
	pdOpts := opts.Pendo
	if pdOpts.Now == nil {
		pdOpts.Now = opts.Now
	}
	pdOpts.IntegrationKey, pdOpts.TrackSecret = s.PendoKey, s.PendoTrackSecret
	s.Pendo = pendotest.New(pdOpts)
	if err := Seed(s.HubSpot, s.Pendo, opts); err != nil {
		return nil, err
	}
	var err error
	if s.HubSpotURL, err = s.serve(opts.HubSpotAddr, s.HubSpot); err != nil {
		return nil, err
	}
	if s.PendoURL, err = s.serve(opts.PendoAddr, s.Pendo); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Settings point a project's connectors at the sandbox: the settings
// project.Options.Set takes.
func (s *Sandbox) Settings() map[string]string {
	return map[string]string{"hubspot.base_url": s.HubSpotURL, "pendo.base_url": s.PendoURL}
}

// Lookup finds the sandbox's credentials under the environment variables
// a project names by default (HUBSPOT_TOKEN, PENDO_INTEGRATION_KEY,
// PENDO_TRACK_SECRET), as os.LookupEnv would.
func (s *Sandbox) Lookup(name string) (string, bool) {
	v, ok := map[string]string{"HUBSPOT_TOKEN": s.HubSpotToken, "PENDO_INTEGRATION_KEY": s.PendoKey, "PENDO_TRACK_SECRET": s.PendoTrackSecret}[name]
	return v, ok
}

func (s *Sandbox) serve(addr string, h http.Handler) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("sandbox: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), nil
}

// Close stops the servers.
func (s *Sandbox) Close() {
	for _, stop := range s.stop {
		stop()
	}
	for _, srv := range s.servers {
		srv.Close()
	}
}

// SendWebhooks subscribes HubSpot's emulator to w (changes from now on,
// not the seeded history) and delivers what is due every interval (in
// real time: a delivery's timing is the sender's, not a result), until
// Close.
func (s *Sandbox) SendWebhooks(w *hubspottest.Webhooks, every time.Duration) {
	s.HubSpot.SetWebhooks(w)
	s.every(every, func(ctx context.Context) { s.HubSpot.DeliverWebhooks(ctx) })
}

// SendPendoWebhooks sets Pendo's URL webhook to w (track events the
// data host accepts from now on) and delivers every interval, until Close.
func (s *Sandbox) SendPendoWebhooks(w *pendotest.Webhook, every time.Duration) {
	s.Pendo.SetWebhook(w)
	s.every(every, func(ctx context.Context) { s.Pendo.DeliverWebhooks(ctx) })
}

// every calls fn every interval until Close.
func (s *Sandbox) every(interval time.Duration, fn func(context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				fn(ctx)
			}
		}
	}()
	s.stop = append(s.stop, func() { cancel(); <-done })
}

// Seed fills the emulators: a CRM from hubspottest.Generate, and Pendo
// visitors for most of its people (their emails as the Pendo snippet sends
// them, with stray whitespace and capitals), accounts keyed by company
// domain, visitors HubSpot lacks, and anonymous visitors.
func Seed(hs *hubspottest.Server, pd *pendotest.Server, opts Options) error {
	opts.setDefaults()
	gen, err := hubspottest.Generate(hs, hubspottest.GenerateOptions{Seed: opts.Seed, Contacts: opts.Contacts})
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x5eed))
	now := opts.Now()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if err := seedRecipeProperties(hs, gen, rng, today); err != nil {
		return err
	}
	hs.DefineEvent("pendo_feature_used", "Pendo feature used", "CONTACT", []hubspottest.EventProperty{
		{Name: "feature", Label: "Feature", Type: "string"},
		{Name: "num_events", Label: "Clicks", Type: "number"},
		{Name: "num_minutes", Label: "Minutes", Type: "number"},
	})
	for name, typ := range PendoCustomFields {
		if err := pd.AddField("visitor", "custom", name, typ); err != nil {
			return err
		}
	}
	for name, typ := range PendoAccountFields {
		if err := pd.AddField("account", "custom", name, typ); err != nil {
			return err
		}
	}
	base := today.AddDate(0, 0, -700)
	for _, co := range gen.Companies {
		pd.PutAccount(co.Domain, map[string]map[string]any{"agent": {"name": co.Name}})
	}
	for i, p := range gen.People {
		if rng.Float64() >= opts.MatchRate {
			continue
		}
		agentEmail := p.Email
		switch r := rng.Float64(); {
		case r < 0.10:
			agentEmail = " " + p.Email + "\t"
		case r < 0.15:
			agentEmail = strings.ToUpper(p.Email[:1]) + p.Email[1:] + " "
		}
		seen := base.Add(time.Duration(rng.IntN(300*24)) * time.Hour).UnixMilli()
		auto := map[string]any{"firstvisit": seen, "lastvisit": seen + int64(rng.IntN(30*24))*3_600_000}
		if p.CompanyID != "" {
			auto["accountid"] = p.Domain
			auto["accountids"] = []any{p.Domain}
		}
		pd.PutVisitor(fmt.Sprintf("user-%05d", i), map[string]map[string]any{
			"agent": {"email": agentEmail, "full_name": p.First + " " + p.Last},
			"auto":  auto,
		})
	}
	for i := 0; i < opts.ExtraVisitors; i++ {
		co := gen.Companies[rng.IntN(len(gen.Companies))]
		pd.PutVisitor(fmt.Sprintf("user-x%04d", i), map[string]map[string]any{
			"agent": {"email": fmt.Sprintf("guest%d@%s", i, co.Domain)},
			"auto":  {"accountid": co.Domain},
		})
	}
	for i := 0; i < opts.Anonymous; i++ {
		pd.PutVisitor(fmt.Sprintf("_PENDO_T_%08x", rng.Uint32()), nil)
	}
	if err := pendotest.GenerateActivity(pd, pendotest.ActivityOptions{Seed: opts.Seed, Now: now}); err != nil {
		return err
	}
	return seedListsAndSegments(hs, pd, gen)
}

// Lists and segments the sandbox seeds, over the generated people.
const (
	// ListPQL is an empty manual list: the Pendo segment → HubSpot list
	// recipe fills it.
	ListPQL = "Product qualified"
	// ListNewsletter is a manual list of every third contact; the living
	// world moves contacts in and out.
	ListNewsletter = "Newsletter"
	// ListCustomers is a DYNAMIC list: the contacts whose lifecycle stage
	// is customer.
	ListCustomers = "Customers"
	// SegmentPQL is an uploaded Pendo segment of every fifth identified
	// visitor; the living world moves visitors in and out.
	SegmentPQL = "Product qualified"
	// SegmentFrench is a rule segment: visitors whose agent language is
	// fr_FR (the living world's visitor edits change languages).
	SegmentFrench = "French speakers"
	// PropertySegments is a contact "multiple checkboxes" property with
	// one option per seeded segment, its value the segment's name: the
	// Pendo segments → HubSpot property recipe fills it.
	PropertySegments = "pendo_segments"
)

// seedListsAndSegments adds the lists and segments above, from the
// generated people by position (no random draw: the rest of the seeded
// world is as it was).
func seedListsAndSegments(hs *hubspottest.Server, pd *pendotest.Server, gen *hubspottest.Generated) error {
	if _, err := hs.CreateList(ListPQL, "contacts", "MANUAL"); err != nil {
		return err
	}
	news, err := hs.CreateList(ListNewsletter, "contacts", "MANUAL")
	if err != nil {
		return err
	}
	var members []string
	for i, p := range gen.People {
		if i%3 == 0 {
			members = append(members, p.ContactID)
		}
	}
	if err := hs.AddToList(news, members...); err != nil {
		return err
	}
	if _, err := hs.AddDynamicList(ListCustomers, "contacts", func(o hubspottest.Object) bool { return o.Properties["lifecyclestage"] == "customer" }); err != nil {
		return err
	}
	var pql []string
	for i, id := range pd.VisitorIDs() {
		if strings.HasPrefix(id, "user-") && i%5 == 0 {
			pql = append(pql, id)
		}
	}
	pd.AddUploadedSegment(SegmentPQL, pql...)
	pd.AddSegment(SegmentFrench, func(md map[string]map[string]any) bool { return md["agent"]["language"] == "fr_FR" })
	var opts []hubspottest.Option
	for i, seg := range []string{SegmentFrench, SegmentPQL} {
		opts = append(opts, hubspottest.Option{Label: seg, Value: seg, DisplayOrder: i})
	}
	return hs.AddProperty("contacts", hubspottest.Property{Name: PropertySegments, Label: "Pendo segments", Type: "enumeration",
		FieldType: "checkbox", GroupName: "contactinformation", Options: opts})
}

// seedRecipeProperties adds the contact property types the HubSpot → Pendo
// recipe translates that the generator lacks (a date, a checkbox, a file)
// and fills them on some contacts, as a portal's own properties would be.
func seedRecipeProperties(hs *hubspottest.Server, gen *hubspottest.Generated, rng *rand.Rand, today time.Time) error {
	for _, p := range []hubspottest.Property{
		{Name: "trial_started", Label: "Trial started", Type: "date", FieldType: "date", GroupName: "contactinformation"},
		{Name: "beta_opt_in", Label: "Beta opt-in", Type: "bool", FieldType: "booleancheckbox", GroupName: "contactinformation",
			Options: []hubspottest.Option{{Label: "Yes", Value: "true"}, {Label: "No", Value: "false", DisplayOrder: 1}}},
		{Name: "signed_contract", Label: "Signed contract", Type: "string", FieldType: "file", GroupName: "contactinformation"},
	} {
		if err := hs.AddProperty("contacts", p); err != nil {
			return err
		}
	}
	trial := today.AddDate(0, 0, -90)
	for _, p := range gen.People {
		props := map[string]string{}
		if rng.Float64() < 0.4 {
			props["trial_started"] = trial.AddDate(0, 0, rng.IntN(60)).Format("2006-01-02")
		}
		if rng.Float64() < 0.5 {
			props["beta_opt_in"] = fmt.Sprint(rng.Float64() < 0.3)
		}
		if rng.Float64() < 0.1 {
			props["signed_contract"] = fmt.Sprintf("https://files.example.com/contracts/%s.pdf", p.ContactID)
		}
		if len(props) == 0 {
			continue
		}
		if err := hs.UpdateObject("contacts", p.ContactID, props); err != nil {
			return err
		}
	}
	return nil
}
