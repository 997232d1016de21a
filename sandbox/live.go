package sandbox

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/backflow-dev/backflow/api/pendo/pendotest"
)

// LiveOptions are how busy the living sandbox's people are, per simulated
// hour. Zero rates take the defaults; negative ones turn a kind of change
// off.
type LiveOptions struct {
	// Seed makes the changes reproducible: the same seed, start and steps
	// give the same world. Default 1.
	Seed uint64
	// HubSpot: contact properties edited by hand or by workflows, lifecycle
	// stages moved on, owners reassigned, new contacts (each also a new
	// Pendo visitor when it signs up), contacts archived (merged away),
	// contacts moved to another company, new deals.
	ContactEdits, StageMoves, OwnerChanges, NewContacts, Archives, Reassociations, NewDeals int
	// Pendo: visitors active in the hour (each views pages and uses
	// features a few times, some send track events or answer the NPS
	// poll), visitors whose agent metadata changes, new accounts (a
	// company signs up: a HubSpot company and a Pendo account under its
	// domain), and accounts whose metadata changes.
	ActiveVisitors, VisitorEdits, NewAccounts, AccountEdits int
	// Lists and segments: contacts joining or leaving the Newsletter list
	// and visitors the Product qualified segment (an upload) takes in or
	// lets go.
	ListMoves, SegmentMoves int
}

func (o *LiveOptions) setDefaults() {
	def := func(v *int, d int) {
		switch {
		case *v == 0:
			*v = d
		case *v < 0:
			*v = 0
		}
	}
	def(&o.ContactEdits, 8)
	def(&o.StageMoves, 3)
	def(&o.OwnerChanges, 2)
	def(&o.NewContacts, 2)
	def(&o.Archives, 1)
	def(&o.Reassociations, 1)
	def(&o.NewDeals, 1)
	def(&o.NewAccounts, 1)
	def(&o.AccountEdits, 2)
	def(&o.ListMoves, 2)
	def(&o.SegmentMoves, 2)
	def(&o.ActiveVisitors, 20)
	def(&o.VisitorEdits, 3)
	if o.Seed == 0 {
		o.Seed = 1
	}
}

// Life moves the sandbox's world on: people keep using the product and
// editing the CRM, on the emulators' clock.
type Life struct {
	sb   *Sandbox
	opts LiveOptions
	rng  *rand.Rand
	// added, accounts and deals number the contacts, accounts and deals
	// the steps made.
	added, accounts, deals int
	// Changes counts what the steps did, by kind.
	Changes map[string]int
}

// Live returns the sandbox's world in motion; Step moves it on.
func (s *Sandbox) Live(opts LiveOptions) *Life {
	opts.setDefaults()
	return &Life{sb: s, opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, 0x11fe)), Changes: map[string]int{}}
}

// stages in HubSpot's order; workflows move contacts forward.
var stages = []string{"subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "evangelist"}

// Step lets the work of the span from..to happen, at the rates per hour:
// CRM edits stamped at the emulators' present (set the clock to to
// first), and product activity at times within (from, to].
func (l *Life) Step(from, to time.Time) error {
	if !to.After(from) {
		return nil
	}
	scale := to.Sub(from).Hours()
	o := l.opts
	n := func(rate int) int { // rate × scale, the fraction drawn
		x := float64(rate) * scale
		k := int(x)
		if l.rng.Float64() < x-float64(k) {
			k++
		}
		return k
	}
	rates := LiveOptions{ContactEdits: n(o.ContactEdits), StageMoves: n(o.StageMoves), OwnerChanges: n(o.OwnerChanges),
		NewContacts: n(o.NewContacts), Archives: n(o.Archives), Reassociations: n(o.Reassociations), NewDeals: n(o.NewDeals),
		ActiveVisitors: n(o.ActiveVisitors), VisitorEdits: n(o.VisitorEdits), NewAccounts: n(o.NewAccounts), AccountEdits: n(o.AccountEdits),
		ListMoves: n(o.ListMoves), SegmentMoves: n(o.SegmentMoves)}
	if err := l.signUpAccounts(rates.NewAccounts); err != nil {
		return err
	}
	if err := l.editCRM(l.live("contacts"), rates); err != nil {
		return err
	}
	if err := l.moveCompanies(l.live("contacts"), l.live("companies"), rates); err != nil {
		return err
	}
	l.useProduct(from, to, rates)
	l.editAccounts(rates.AccountEdits)
	return l.moveMembers(rates)
}

// moveMembers moves contacts in and out of the Newsletter list and
// visitors in and out of the Product qualified segment, each a toggle.
func (l *Life) moveMembers(rates LiveOptions) error {
	hs, pd := l.sb.HubSpot, l.sb.Pendo
	if list, ok := hs.ListByName(ListNewsletter); ok {
		contacts := l.live("contacts")
		for range rates.ListMoves {
			if len(contacts) == 0 {
				break
			}
			id := l.pick(contacts)
			move := hs.AddToList
			if slices.Contains(hs.ListMembers(list), id) {
				move = hs.RemoveFromList
			}
			if err := move(list, id); err != nil {
				return fmt.Errorf("sandbox: move contact %s in the %s list: %w", id, ListNewsletter, err)
			}
			l.Changes["list_move"]++
		}
	}
	if seg, ok := pd.SegmentByName(SegmentPQL); ok {
		visitors := slices.DeleteFunc(pd.VisitorIDs(), func(id string) bool { return strings.HasPrefix(id, "_PENDO_T_") })
		for range rates.SegmentMoves {
			if len(visitors) == 0 {
				break
			}
			id := l.pick(visitors)
			move := pd.AddToSegment
			if slices.Contains(pd.SegmentMembers(seg), id) {
				move = pd.RemoveFromSegment
			}
			if err := move(seg, id); err != nil {
				return fmt.Errorf("sandbox: move visitor %s in the %s segment: %w", id, SegmentPQL, err)
			}
			l.Changes["segment_move"]++
		}
	}
	return nil
}

// live lists the live records of an object type, in id order.
func (l *Life) live(objectType string) []string {
	var out []string
	for _, id := range l.sb.HubSpot.ObjectIDs(objectType) {
		if o, ok := l.sb.HubSpot.Object(objectType, id); ok && !o.Archived {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// signUpAccounts adds companies that start using the product: a HubSpot
// company and a Pendo account under its domain, as the sandbox seeds them.
func (l *Life) signUpAccounts(n int) error {
	for range n {
		l.accounts++
		domain := fmt.Sprintf("live%d-%d.example.org", l.opts.Seed, l.accounts)
		name := fmt.Sprintf("Live %d-%d Ltd", l.opts.Seed, l.accounts)
		if _, err := l.sb.HubSpot.CreateObject("companies", map[string]string{"name": name, "domain": domain, "lifecyclestage": "lead"}); err != nil {
			return fmt.Errorf("sandbox: new company %s: %w", domain, err)
		}
		l.sb.Pendo.PutAccount(domain, map[string]map[string]any{"agent": {"name": name}})
		l.Changes["new_account"]++
	}
	return nil
}

// moveCompanies moves contacts from their companies to another one, as a
// rep does when someone changes jobs, and opens deals on companies with
// one of their contacts.
func (l *Life) moveCompanies(contacts, companies []string, rates LiveOptions) error {
	hs := l.sb.HubSpot
	if len(contacts) == 0 || len(companies) < 2 {
		return nil
	}
	for range rates.Reassociations {
		id := l.pick(contacts)
		to := l.pick(companies)
		old := hs.Associations("contacts", id, "companies")
		if slices.Contains(old, to) {
			continue
		}
		for _, co := range old {
			if err := hs.Disassociate("contacts", id, "companies", co); err != nil {
				return fmt.Errorf("sandbox: move contact %s: %w", id, err)
			}
		}
		if err := hs.Associate("contacts", id, "companies", to); err != nil {
			return fmt.Errorf("sandbox: move contact %s: %w", id, err)
		}
		l.Changes["reassociation"]++
	}
	for range rates.NewDeals {
		co := l.pick(companies)
		l.deals++
		deal, err := hs.CreateObject("deals", map[string]string{"dealname": fmt.Sprintf("Live deal %d", l.deals), "pipeline": "default",
			"dealstage": "appointmentscheduled", "amount": fmt.Sprint(1000 * (1 + l.rng.IntN(50)))})
		if err != nil {
			return fmt.Errorf("sandbox: new deal: %w", err)
		}
		if err := hs.Associate("deals", deal, "companies", co); err != nil {
			return fmt.Errorf("sandbox: new deal %s: %w", deal, err)
		}
		if people := hs.Associations("companies", co, "contacts"); len(people) > 0 {
			if err := hs.Associate("deals", deal, "contacts", l.pick(people)); err != nil {
				return fmt.Errorf("sandbox: new deal %s: %w", deal, err)
			}
		}
		l.Changes["new_deal"]++
	}
	return nil
}

// editAccounts renames accounts, as the app's snippet does when a
// customer changes its name in the product.
func (l *Life) editAccounts(n int) {
	pd := l.sb.Pendo
	ids := pd.AccountIDs()
	if len(ids) == 0 {
		return
	}
	for range n {
		id := l.pick(ids)
		md, _ := pd.Account(id)
		agent := map[string]any{}
		for k, v := range md["agent"] {
			agent[k] = v
		}
		base, _, _ := strings.Cut(fmt.Sprint(agent["name"]), " (")
		agent["name"] = fmt.Sprintf("%s (%s)", base, []string{"EMEA", "Americas", "APAC", "Group"}[l.rng.IntN(4)])
		pd.PutAccount(id, map[string]map[string]any{"agent": agent, "custom": md["custom"], "auto": md["auto"]})
		l.Changes["account_edit"]++
	}
}

func (l *Life) pick(ids []string) string { return ids[l.rng.IntN(len(ids))] }

func (l *Life) editCRM(contacts []string, rates LiveOptions) error {
	hs := l.sb.HubSpot
	if len(contacts) == 0 {
		return nil
	}
	for range rates.ContactEdits {
		id := l.pick(contacts)
		props := map[string]string{"hubspotscore": fmt.Sprint(l.rng.IntN(100))}
		if l.rng.IntN(3) == 0 {
			props["firstname"] = []string{"Ada", "Grace", "Linus", "Barbara", "Ken", "Radia"}[l.rng.IntN(6)]
		}
		if err := hs.UpdateObject("contacts", id, props); err != nil {
			return fmt.Errorf("sandbox: edit contact %s: %w", id, err)
		}
		l.Changes["contact_edit"]++
	}
	for range rates.StageMoves {
		id := l.pick(contacts)
		o, _ := hs.Object("contacts", id)
		next := slices.Index(stages, o.Properties["lifecyclestage"]) + 1
		if next >= len(stages) {
			continue
		}
		if err := hs.UpdateObject("contacts", id, map[string]string{"lifecyclestage": stages[next]}); err != nil {
			return fmt.Errorf("sandbox: move contact %s: %w", id, err)
		}
		l.Changes["stage_move"]++
	}
	owners := l.owners(contacts)
	for range rates.OwnerChanges {
		if len(owners) == 0 {
			break
		}
		id := l.pick(contacts)
		if err := hs.UpdateObject("contacts", id, map[string]string{"hubspot_owner_id": l.pick(owners)}); err != nil {
			return fmt.Errorf("sandbox: reassign contact %s: %w", id, err)
		}
		l.Changes["owner_change"]++
	}
	for range rates.NewContacts {
		l.added++
		email := fmt.Sprintf("live%d.%d@signup.example.com", l.opts.Seed, l.added)
		id, err := hs.CreateObject("contacts", map[string]string{"email": email, "firstname": "New", "lifecyclestage": "lead", "hubspotscore": "10"})
		if err != nil {
			return fmt.Errorf("sandbox: new contact %s: %w", email, err)
		}
		// They signed up: Pendo knows them too, under their own id, in
		// the account of one of the live companies' domains.
		visitor := map[string]map[string]any{"agent": {"email": email}}
		if accounts := l.sb.Pendo.AccountIDs(); len(accounts) > 0 {
			a := l.pick(accounts)
			visitor["auto"] = map[string]any{"accountid": a, "accountids": []any{a}}
		}
		l.sb.Pendo.PutVisitor(fmt.Sprintf("live-%d-%d", l.opts.Seed, l.added), visitor)
		contacts = append(contacts, id)
		l.Changes["new_contact"]++
	}
	for range rates.Archives {
		if len(contacts) < 10 {
			break
		}
		id := l.pick(contacts)
		if err := hs.ArchiveObject("contacts", id); err != nil {
			continue // archived earlier in this step
		}
		l.Changes["archive"]++
	}
	return nil
}

// owners are the owner ids contacts hold today.
func (l *Life) owners(contacts []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range contacts[:min(len(contacts), 50)] {
		o, _ := l.sb.HubSpot.Object("contacts", id)
		if v := o.Properties["hubspot_owner_id"]; v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

func (l *Life) useProduct(from, to time.Time, rates LiveOptions) {
	pd := l.sb.Pendo
	visitors := slices.DeleteFunc(pd.VisitorIDs(), func(id string) bool { return strings.HasPrefix(id, "_PENDO_T_") })
	slices.Sort(visitors)
	if len(visitors) == 0 {
		return
	}
	span := to.Sub(from)
	var acts []pendotest.Activity
	for range rates.ActiveVisitors {
		id := l.pick(visitors)
		md, _ := pd.Visitor(id)
		account, _ := md["auto"]["accountid"].(string)
		at := from.Add(time.Duration(l.rng.Int64N(int64(span))) + time.Millisecond)
		for k := 0; k < 1+l.rng.IntN(5); k++ {
			if at.After(to) {
				break
			}
			a := pendotest.Activity{VisitorID: id, AccountID: account, AppID: pendotest.DefaultAppID, Time: at, Server: "app.example.com"}
			switch r := l.rng.Float64(); {
			case r < 0.4:
				a.Kind, a.PageID = "page", fmt.Sprintf("page-%02d", l.rng.IntN(6))
			case r < 0.85:
				a.Kind, a.FeatureID = "feature", fmt.Sprintf("feat-%02d", l.rng.IntN(10))
			case r < 0.9:
				// The NPS survey, answered again (Pendo keeps every answer).
				a.Kind, a.GuideType, a.GuideID, a.GuideStepID = "poll", "pollResponse", pendotest.NPSGuideID, "step-1"
				a.PollID, a.Response = pendotest.NPSScorePollID, l.rng.IntN(11)
			default:
				a.Kind = "track"
				a.Properties = map[string]any{"event": pendotest.TrackEventNames[l.rng.IntN(len(pendotest.TrackEventNames))]}
			}
			acts = append(acts, a)
			at = at.Add(time.Duration(1+l.rng.IntN(120)) * time.Second)
		}
		l.Changes["activity"]++
	}
	pd.Record(acts...)
	for range rates.VisitorEdits {
		id := l.pick(visitors)
		md, _ := pd.Visitor(id)
		agent := map[string]any{}
		for k, v := range md["agent"] {
			agent[k] = v
		}
		agent["language"] = []string{"en_US", "fr_FR", "de_DE", "ja_JP"}[l.rng.IntN(4)]
		pd.PutVisitor(id, map[string]map[string]any{"agent": agent, "custom": md["custom"], "auto": md["auto"]})
		l.Changes["visitor_edit"]++
	}
}
