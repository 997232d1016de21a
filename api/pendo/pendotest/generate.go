package pendotest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// ActivityOptions shape generated activity.
type ActivityOptions struct {
	Seed uint64 // default 1
	// Days of history before Now; default 60.
	Days int
	// Now defaults to the emulator's clock.
	Now time.Time
	// NPSRate is the share of visitors who answered the NPS guide; default 0.3.
	NPSRate float64
}

// Catalog ids the generator creates.
const (
	NPSGuideID     = "guide-nps"
	NPSScorePollID = "poll-nps-score"
	NPSTextPollID  = "poll-nps-text"
)

// TrackEventNames are the track events the generator sends.
var TrackEventNames = []string{"Report Exported", "Teammate Invited", "Integration Connected", "Dashboard Shared"}

// GenerateActivity tags features and pages, adds an NPS guide (two polls:
// a 0–10 score and free text) and an onboarding guide, and records a
// deterministic history for every identified visitor already in the
// emulator: page views and feature clicks on the days they were active,
// track events, guide views and NPS answers. Engagement varies by visitor,
// and some accounts fade over the last month, so churn signals exist.
func GenerateActivity(s *Server, opts ActivityOptions) error {
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.Days == 0 {
		opts.Days = 60
	}
	if opts.NPSRate == 0 {
		opts.NPSRate = 0.3
	}
	if opts.Now.IsZero() {
		s.mu.Lock()
		opts.Now = s.now()
		s.mu.Unlock()
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0xac71))
	features := []string{"Dashboard", "Report Builder", "Export", "Invite Teammates", "Integrations", "Alerts", "API Keys", "Billing", "Search", "Comments"}
	pages := []string{"Home", "Reports", "Settings", "Integrations", "Billing", "Team"}
	for i, name := range features {
		s.AddFeature(Feature{ID: fmt.Sprintf("feat-%02d", i), Name: name, AppID: DefaultAppID})
	}
	for i, name := range pages {
		s.AddPage(Page{ID: fmt.Sprintf("page-%02d", i), Name: name, AppID: DefaultAppID})
	}
	s.AddGuide(Guide{ID: NPSGuideID, Name: "NPS survey", AppID: DefaultAppID, State: "public", Polls: []Poll{
		{ID: NPSScorePollID, Question: "How likely are you to recommend us to a friend or colleague?", Type: "NPSRating"},
		{ID: NPSTextPollID, Question: "What is the main reason for your score?", Type: "FreeForm"},
	}})
	s.AddGuide(Guide{ID: "guide-onboarding", Name: "Onboarding tour", AppID: DefaultAppID, State: "public"})

	s.mu.Lock()
	type who struct{ id, account string }
	var people []who
	for id, v := range s.visitors {
		if !isAnonymous(id) {
			acct, _ := v.Metadata["auto"]["accountid"].(string)
			people = append(people, who{id, acct})
		}
	}
	loc := s.loc
	s.mu.Unlock()
	slices.SortFunc(people, func(a, b who) int { return cmpStr(a.id, b.id) })

	// Accounts that fade: active before, quiet in the last 30 days. One
	// draw per account, so about 15% of accounts fade, whatever their size.
	fading := map[string]bool{}
	decided := map[string]bool{}
	for _, p := range people {
		if p.account != "" && !decided[p.account] {
			decided[p.account] = true
			fading[p.account] = rng.Float64() < 0.15
		}
	}
	today := time.Date(opts.Now.In(loc).Year(), opts.Now.In(loc).Month(), opts.Now.In(loc).Day(), 0, 0, 0, 0, loc)
	var acts []Activity
	for _, p := range people {
		activeRate := 0.05 + 0.5*rng.Float64()*rng.Float64()
		ip := fmt.Sprintf("203.0.113.%d", 1+rng.IntN(254))
		ua := "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
		for d := opts.Days; d >= 0; d-- {
			rate := activeRate
			if fading[p.account] && d < 30 {
				rate *= 0.15
			}
			if rng.Float64() >= rate {
				continue
			}
			day := today.AddDate(0, 0, -d)
			at := day.Add(time.Duration(8*3600+rng.IntN(10*3600)) * time.Second)
			for k := 0; k < 2+rng.IntN(12); k++ {
				at = at.Add(time.Duration(10+rng.IntN(300)) * time.Second)
				if at.After(opts.Now) {
					break
				}
				base := Activity{VisitorID: p.id, AccountID: p.account, AppID: DefaultAppID, Time: at, RemoteIP: ip, UserAgent: ua, Server: "app.example.com"}
				switch r := rng.Float64(); {
				case r < 0.45:
					base.Kind, base.PageID = "page", fmt.Sprintf("page-%02d", rng.IntN(len(pages)))
				case r < 0.9:
					// Core features are used more than the rest.
					base.Kind, base.FeatureID = "feature", fmt.Sprintf("feat-%02d", min(rng.IntN(len(features)), rng.IntN(len(features))))
				default:
					name := TrackEventNames[rng.IntN(len(TrackEventNames))]
					base.Kind = "track"
					base.Properties = map[string]any{"event": name, "plan": []string{"starter", "professional", "enterprise"}[rng.IntN(3)]}
				}
				acts = append(acts, base)
			}
		}
		if rng.Float64() < opts.NPSRate {
			// At least an hour back, so the answer (and the free text 20 s
			// after it) is history, never in the future.
			at := opts.Now.Add(-time.Duration(1+rng.IntN(opts.Days*24)) * time.Hour)
			score := float64(rng.IntN(11))
			acts = append(acts,
				Activity{Kind: "guide", GuideType: "guideSeen", GuideID: NPSGuideID, GuideStepID: "step-1", VisitorID: p.id, AccountID: p.account, AppID: DefaultAppID, Time: at},
				Activity{Kind: "poll", GuideType: "pollResponse", GuideID: NPSGuideID, GuideStepID: "step-1", PollID: NPSScorePollID, Response: score,
					VisitorID: p.id, AccountID: p.account, AppID: DefaultAppID, Time: at.Add(5 * time.Second)})
			if rng.Float64() < 0.5 {
				text := []string{"Great reporting", "Too expensive", "Love the integrations", "Hard to set up", "Support was quick"}[rng.IntN(5)]
				acts = append(acts, Activity{Kind: "poll", GuideType: "pollResponse", GuideID: NPSGuideID, GuideStepID: "step-2", PollID: NPSTextPollID,
					Response: text, VisitorID: p.id, AccountID: p.account, AppID: DefaultAppID, Time: at.Add(20 * time.Second)})
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range acts {
		if a.Kind == "track" {
			name := a.Properties["event"].(string)
			delete(a.Properties, "event")
			tt, err := s.trackType(a.AppID, name)
			if err != nil {
				return err
			}
			a.TrackTypeID = tt.ID
		}
		s.activity = append(s.activity, a)
		s.touchVisit(a.VisitorID, a.AppID, a.Time)
	}
	s.activitySorted = false
	return nil
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
