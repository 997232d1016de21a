package hubspottest

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// GenerateOptions size a generated CRM. Zero values take the defaults.
type GenerateOptions struct {
	Seed      uint64 // default 1
	Contacts  int    // default 2,000
	Companies int    // default Contacts/20, at least 1
	Owners    int    // default 8
	// FreeMailRate is the share of contacts on free-mail domains (gmail.com,
	// …), who belong to no company. Default 0.2.
	FreeMailRate float64
}

// Person is one generated contact, so that another system (the Pendo
// emulator) can be seeded with the same people.
type Person struct {
	ContactID string
	Email     string // the address as the person types it: lower-case, trimmed
	CRMEmail  string // as stored in HubSpot: sometimes with capitals
	First     string
	Last      string
	CompanyID string // "" for free-mail contacts
	Domain    string
}

// Company is one generated company.
type Company struct {
	ID, Name, Domain, OwnerID string
	Employees                 int
}

// Generated is what Generate created.
type Generated struct {
	People    []Person
	Companies []Company
	Owners    []string
	Deals     []string
	// SubscriptionType is the custom object's objectTypeId.
	SubscriptionType string
}

var (
	firstNames   = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Radia", "Linus", "Frances", "John", "Katherine", "Dennis", "Hedy", "Tim", "Sophie", "Guido", "Anita", "Bjarne", "Lynn", "Shafi", "Leslie", "Niklaus"}
	lastNames    = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Hamilton", "Thompson", "Perlman", "Torvalds", "Allen", "Backus", "Johnson", "Ritchie", "Lamarr", "Berners-Lee", "Wilson", "van Rossum", "Borg", "Stroustrup", "Conway", "Goldwasser", "Lamport", "Wirth"}
	companyWords = []string{"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Cyberdyne", "Soylent", "Tyrell", "Vandelay", "Massive", "Aperture", "Oscorp", "Pied Piper", "Dunder", "Gringotts", "Monarch", "Nakatomi"}
	suffixes     = []string{"io", "com", "co", "ai", "dev", "net"}
	industries   = []string{"COMPUTER_SOFTWARE", "FINANCIAL_SERVICES", "HOSPITAL_HEALTH_CARE", "RETAIL", "MARKETING_AND_ADVERTISING", "EDUCATION_MANAGEMENT"}
	freeMail     = []string{"gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com"}
	stages       = []string{"subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer"}
	leadStatuses = []string{"NEW", "OPEN", "IN_PROGRESS", "CONNECTED", "UNQUALIFIED"}
	dealStages   = []string{"appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin", "contractsent", "closedwon", "closedlost"}
	plans        = []string{"starter", "professional", "enterprise"}
)

// Generate fills the emulator with a deterministic, realistic CRM: owners;
// companies with domains; contacts at those domains (and some on free-mail
// domains) whose stored emails have stray capitals; deals in the default
// pipeline; a custom object "subscription"; and the associations between
// them. The same options always produce the same data.
func Generate(s *Server, opts GenerateOptions) (*Generated, error) {
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.Contacts == 0 {
		opts.Contacts = 2000
	}
	if opts.Companies == 0 {
		opts.Companies = max(1, opts.Contacts/20)
	}
	if opts.Owners == 0 {
		opts.Owners = 8
	}
	if opts.FreeMailRate == 0 {
		opts.FreeMailRate = 0.2
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15))
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	g := &Generated{}

	for i := 0; i < opts.Owners; i++ {
		first, last := pick(firstNames), pick(lastNames)
		g.Owners = append(g.Owners, s.AddOwner(fmt.Sprintf("%s.%s%d@backflow-sandbox.com", strings.ToLower(first), strings.ToLower(strings.ReplaceAll(last, " ", "")), i), first, last))
	}

	subType, err := s.DefineObject("subscription", "Subscription", "Subscriptions", "subscription_name", []Property{
		{Name: "subscription_name", Label: "Name", Type: "string", FieldType: "text"},
		{Name: "plan", Label: "Plan", Type: "enumeration", FieldType: "select", Options: options(plans)},
		{Name: "seats", Label: "Seats", Type: "number", FieldType: "number"},
		{Name: "mrr", Label: "MRR", Type: "number", FieldType: "number"},
		{Name: "renewal_date", Label: "Renewal date", Type: "date", FieldType: "date"},
		{Name: "external_id", Label: "External ID", Type: "string", FieldType: "text", HasUniqueValue: true},
	})
	if err != nil {
		return nil, err
	}
	g.SubscriptionType = subType

	// Dates follow the emulator's clock: a sandbox started at any instant
	// has deals closing around then and renewals ahead of it.
	s.mu.Lock()
	now := s.now().UTC()
	s.mu.Unlock()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	for i := 0; i < opts.Companies; i++ {
		word := companyWords[i%len(companyWords)]
		name := word
		if i >= len(companyWords) {
			name = fmt.Sprintf("%s %d", word, i/len(companyWords)+1)
		}
		domain := strings.ToLower(strings.ReplaceAll(name, " ", "")) + "." + suffixes[i%len(suffixes)]
		co := Company{Name: name, Domain: domain, OwnerID: pick(g.Owners), Employees: 5 + rng.IntN(5000)}
		id, err := s.CreateObject("companies", map[string]string{
			"name": name, "domain": domain, "industry": pick(industries), "numberofemployees": fmt.Sprint(co.Employees),
			"annualrevenue": fmt.Sprint(co.Employees * (20_000 + rng.IntN(80_000))), "hubspot_owner_id": co.OwnerID,
			"lifecyclestage": pick(stages[3:]),
		})
		if err != nil {
			return nil, fmt.Errorf("hubspottest: generate company %d: %w", i, err)
		}
		co.ID = id
		g.Companies = append(g.Companies, co)

		plan := pick(plans)
		seats := 5 + rng.IntN(200)
		renewal := today.AddDate(0, rng.IntN(12)+1, 0)
		sub, err := s.CreateObject("subscription", map[string]string{
			"subscription_name": name + " " + plan, "plan": plan, "seats": fmt.Sprint(seats),
			"mrr":          fmt.Sprint(seats * map[string]int{"starter": 10, "professional": 40, "enterprise": 90}[plan]),
			"renewal_date": renewal.Format("2006-01-02"), "external_id": fmt.Sprintf("sub_%05d", i),
		})
		if err != nil {
			return nil, fmt.Errorf("hubspottest: generate subscription %d: %w", i, err)
		}
		if err := s.Associate("subscription", sub, "companies", id); err != nil {
			return nil, err
		}
	}

	for i := 0; i < opts.Contacts; i++ {
		first, last := pick(firstNames), pick(lastNames)
		local := strings.ToLower(strings.ReplaceAll(first+"."+last, " ", "")) + fmt.Sprint(i)
		if rng.Float64() < 0.05 {
			local += "+trial" // plus-addressing: a distinct mailbox, kept as is
		}
		p := Person{First: first, Last: last}
		var co *Company
		if rng.Float64() < opts.FreeMailRate {
			p.Domain = pick(freeMail)
		} else {
			co = &g.Companies[rng.IntN(len(g.Companies))]
			p.Domain, p.CompanyID = co.Domain, co.ID
		}
		p.Email = local + "@" + p.Domain
		// What a CRM accumulates from imports and forms: capitals. (HubSpot
		// refuses spaces in emails.)
		p.CRMEmail = p.Email
		switch r := rng.Float64(); {
		case r < 0.15:
			p.CRMEmail = strings.ToUpper(p.Email[:1]) + p.Email[1:]
		case r < 0.20:
			p.CRMEmail = strings.ToUpper(p.Email)
		}
		props := map[string]string{
			"email": p.CRMEmail, "firstname": first, "lastname": last, "jobtitle": pick([]string{"Engineer", "Product Manager", "Designer", "VP Sales", "CTO", "Analyst"}),
			"lifecyclestage": pick(stages), "hs_lead_status": pick(leadStatuses), "hubspotscore": fmt.Sprint(rng.IntN(100)),
			"hubspot_owner_id": pick(g.Owners),
		}
		if co != nil {
			props["company"] = co.Name
			props["hubspot_owner_id"] = co.OwnerID
		}
		if rng.Float64() < 0.1 {
			delete(props, "hs_lead_status")
		}
		if rng.Float64() < 0.3 {
			props["phone"] = fmt.Sprintf("+1 555 %03d %04d", rng.IntN(1000), rng.IntN(10000))
		}
		id, err := s.CreateObject("contacts", props)
		if err != nil {
			return nil, fmt.Errorf("hubspottest: generate contact %d: %w", i, err)
		}
		p.ContactID = id
		if co != nil {
			if err := s.Associate("contacts", id, "companies", co.ID); err != nil {
				return nil, err
			}
		}
		g.People = append(g.People, p)
	}

	for i, co := range g.Companies {
		for d := 0; d < 1+rng.IntN(3); d++ {
			stage := pick(dealStages)
			id, err := s.CreateObject("deals", map[string]string{
				"dealname": fmt.Sprintf("%s — %s", co.Name, pick([]string{"New business", "Renewal", "Expansion", "Pilot"})),
				"pipeline": "default", "dealstage": stage, "amount": fmt.Sprint(1000 * (1 + rng.IntN(100))),
				"closedate":        today.AddDate(0, 0, rng.IntN(180)-60).Format(time.RFC3339),
				"hubspot_owner_id": co.OwnerID,
			})
			if err != nil {
				return nil, fmt.Errorf("hubspottest: generate deal for company %d: %w", i, err)
			}
			if err := s.Associate("deals", id, "companies", co.ID); err != nil {
				return nil, err
			}
			g.Deals = append(g.Deals, id)
		}
	}
	// Link each deal to one or two contacts of its company.
	byCompany := map[string][]string{}
	for _, p := range g.People {
		if p.CompanyID != "" {
			byCompany[p.CompanyID] = append(byCompany[p.CompanyID], p.ContactID)
		}
	}
	for _, deal := range g.Deals {
		cos := s.Associations("deals", deal, "companies")
		contacts := byCompany[cos[0]]
		for k := 0; k < min(len(contacts), 1+rng.IntN(2)); k++ {
			if err := s.Associate("deals", deal, "contacts", contacts[rng.IntN(len(contacts))]); err != nil {
				return nil, err
			}
		}
	}
	return g, nil
}

func options(values []string) []Option {
	out := make([]Option, len(values))
	for i, v := range values {
		out[i] = Option{Label: labelOf(v), Value: v, DisplayOrder: i}
	}
	return out
}
