// Package sandbox serves the HubSpot and Pendo emulators seeded with one
// realistic, deterministic data set in which people exist on both sides,
// so identity matching has real work: stray case and whitespace in HubSpot
// emails, plus-addressing, free-mail domains, Pendo visitors HubSpot lacks,
// and anonymous visitors.
package sandbox

import (
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
)

// Credentials the sandbox accepts.
const (
	HubSpotToken        = "pat-na1-sandbox-token"
	PendoIntegrationKey = "sandbox-pendo-integration-key"
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
}

// Sandbox is a pair of running emulators.
type Sandbox struct {
	HubSpot    *hubspottest.Server
	Pendo      *pendotest.Server
	HubSpotURL string
	PendoURL   string

	servers []*httptest.Server
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

// Start seeds both emulators and serves them on loopback ports.
func Start(opts Options) (*Sandbox, error) {
	opts.setDefaults()
	hs := hubspottest.New(hubspottest.Options{Tokens: []string{HubSpotToken}})
	pd := pendotest.New(pendotest.Options{IntegrationKey: PendoIntegrationKey})
	if err := Seed(hs, pd, opts); err != nil {
		return nil, err
	}
	s := &Sandbox{HubSpot: hs, Pendo: pd}
	hsrv := httptest.NewServer(hs)
	psrv := httptest.NewServer(pd)
	s.servers = []*httptest.Server{hsrv, psrv}
	s.HubSpotURL, s.PendoURL = hsrv.URL, psrv.URL
	return s, nil
}

// Close stops the servers.
func (s *Sandbox) Close() {
	for _, srv := range s.servers {
		srv.Close()
	}
}

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Radia", "Linus", "Frances", "John", "Katherine", "Dennis", "Hedy", "Tim", "Sophie", "Guido", "Anita", "Bjarne"}
	lastNames  = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Thompson", "Perlman", "Torvalds", "Allen", "Backus", "Johnson", "Ritchie", "Lamarr", "Berners-Lee", "Wilson", "van Rossum", "Borg", "Stroustrup"}
	companies  = []string{"acme.io", "globex.com", "initech.com", "umbrella.co", "hooli.com", "stark.industries", "wayne.enterprises", "wonka.com", "cyberdyne.ai", "soylent.net"}
	freeMail   = []string{"gmail.com", "yahoo.com", "outlook.com", "hotmail.com"}
	stages     = []string{"subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer"}
	statuses   = []string{"NEW", "OPEN", "IN_PROGRESS", "CONNECTED", "UNQUALIFIED"}
)

// Seed fills the emulators.
func Seed(hs *hubspottest.Server, pd *pendotest.Server, opts Options) error {
	opts.setDefaults()
	rng := rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15))
	for name, typ := range PendoCustomFields {
		if err := pd.AddField("visitor", "custom", name, typ); err != nil {
			return err
		}
	}
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < opts.Contacts; i++ {
		first, last := firstNames[rng.IntN(len(firstNames))], lastNames[rng.IntN(len(lastNames))]
		local := strings.ToLower(strings.ReplaceAll(first+"."+last, " ", "")) + fmt.Sprint(i)
		domain := companies[rng.IntN(len(companies))]
		if rng.Float64() < 0.2 {
			domain = freeMail[rng.IntN(len(freeMail))]
		}
		if rng.Float64() < 0.05 {
			local += "+trial"
		}
		email := local + "@" + domain
		// What a CRM accumulates: imports with capitals. (HubSpot rejects
		// spaces in emails; the Pendo snippet does not, see below.)
		crmEmail := email
		switch r := rng.Float64(); {
		case r < 0.15:
			crmEmail = strings.ToUpper(email[:1]) + email[1:]
		case r < 0.20:
			crmEmail = strings.ToUpper(email)
		}
		props := map[string]string{
			"email":          crmEmail,
			"firstname":      first,
			"lastname":       last,
			"company":        strings.Split(domain, ".")[0],
			"lifecyclestage": stages[rng.IntN(len(stages))],
			"hs_lead_status": statuses[rng.IntN(len(statuses))],
			"hubspotscore":   fmt.Sprint(rng.IntN(100)),
		}
		if rng.Float64() < 0.1 {
			delete(props, "hs_lead_status")
		}
		if _, err := hs.CreateObject("contacts", props); err != nil {
			return fmt.Errorf("sandbox: seed contact %d: %w", i, err)
		}
		if rng.Float64() < opts.MatchRate {
			visitorID := fmt.Sprintf("user-%05d", i)
			agentEmail := email
			switch r := rng.Float64(); {
			case r < 0.10:
				agentEmail = " " + email + "\t"
			case r < 0.15:
				agentEmail = strings.ToUpper(email[:1]) + email[1:] + " "
			}
			seen := base.Add(time.Duration(rng.IntN(300*24)) * time.Hour).UnixMilli()
			pd.PutVisitor(visitorID, map[string]map[string]any{
				"agent": {"email": agentEmail, "full_name": first + " " + last},
				"auto":  {"firstvisit": seen, "lastvisit": seen + int64(rng.IntN(30*24))*3_600_000, "accountid": domain},
			})
		}
	}
	for i := 0; i < opts.ExtraVisitors; i++ {
		pd.PutVisitor(fmt.Sprintf("user-x%04d", i), map[string]map[string]any{
			"agent": {"email": fmt.Sprintf("guest%d@%s", i, companies[rng.IntN(len(companies))])},
		})
	}
	for i := 0; i < opts.Anonymous; i++ {
		pd.PutVisitor(fmt.Sprintf("_PENDO_T_%08x", rng.Uint32()), nil)
	}
	return nil
}
