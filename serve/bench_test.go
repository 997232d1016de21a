package serve_test

import (
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
	"github.com/backflow-dev/backflow/sandbox"
)

// BenchmarkServeLatency measures, on the system clock, how long a HubSpot
// contact change takes to reach its Pendo visitor through serve: with the
// emulator's webhooks (delivered every 250 ms), then with polling alone
// (--poll 10s asked, stretched by the default poll budget, 1.5% of the
// 250,000-call day; search trails writes by 3 s). Then, idle, the calls
// of the probes and of one full cycle, as calls per hour of that plan.
func BenchmarkServeLatency(b *testing.B) {
	for i := 0; i < b.N; i++ {
		sb, err := sandbox.Start(sandbox.Options{Contacts: 2000})
		if err != nil {
			b.Fatal(err)
		}
		s := startServeWith(b, serveConfig{db: filepath.Join(b.TempDir(), "w.duckdb"), now: time.Now, sb: sb, debounce: time.Second})
		sb.SendWebhooks(&hubspottest.Webhooks{TargetURL: s.url + "/hooks/hubspot", ClientSecret: clientSecret, AppID: 1,
			Subscriptions: []string{"contact.propertyChange:firstname"}}, 250*time.Millisecond)
		pairs := matchedVisitors(b, sb, 26)
		hooked := latencies(b, s, pairs[:20], "hooked")
		s.shutdown()
		sb.HubSpot.SetWebhooks(nil)

		const poll = 10 * time.Second
		p := startServeWith(b, serveConfig{db: filepath.Join(b.TempDir(), "w2.duckdb"), now: time.Now, sb: sb, debounce: time.Second, poll: poll})
		p.patience = 5 * time.Minute
		polled := latencies(b, p, pairs[20:], "polled")

		// Idle: nothing changes for two polls, then one full cycle.
		calls := func() int {
			hs, _ := sb.HubSpot.Requests()
			n := 0
			for _, c := range hs {
				n += c
			}
			return n
		}
		cycles := func(kind, outcome string) float64 {
			return p.metric(`backflow_serve_cycles_total{kind="` + kind + `",outcome="` + outcome + `"}`)
		}
		start, before := cycles("poll", "idle"), calls()
		p.waitFor("two idle polls", func() bool { return cycles("poll", "idle") >= start+2 })
		perPoll := float64(calls()-before) / (cycles("poll", "idle") - start)
		interval := p.metric("backflow_serve_poll_interval_seconds")
		fullBefore, callsBefore := cycles("full", "ok"), calls()
		resp, err := http.Post(p.url+"/run", "", nil)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		p.waitFor("a full cycle", func() bool { return cycles("full", "ok") > fullBefore })
		perFull := float64(calls() - callsBefore) // a poll may have run too: counted, the stricter figure
		p.shutdown()
		sb.Close()

		perHour := perPoll*3600/interval + perFull
		fmt.Printf("bench: serve_latency_p95_seconds %.2f s\n", p95(hooked))
		fmt.Printf("bench: serve_latency_p95_poll_seconds %.2f s\n", p95(polled))
		fmt.Printf("bench: serve_idle_calls_per_hour %.0f calls\n", perHour)
		fmt.Printf("bench: serve_idle_budget_share %.4f ratio\n", perHour*24/250_000)
		fmt.Printf("bench: serve_poll_interval_seconds %.1f s\n", interval)
		fmt.Printf("bench: serve_idle_poll_calls %.1f calls\n", perPoll)
		fmt.Printf("bench: serve_full_cycle_calls %.0f calls\n", perFull)
	}
}

// latencies changes each contact's first name in turn and times the
// change's arrival at its visitor.
func latencies(b *testing.B, s *served, pairs [][2]string, tag string) []float64 {
	b.Helper()
	var out []float64
	for i, p := range pairs {
		name := fmt.Sprintf("%s-%d", tag, i)
		start := time.Now()
		if err := s.sb.HubSpot.UpdateObject("contacts", p[1], map[string]string{"firstname": name}); err != nil {
			b.Fatal(err)
		}
		s.waitFor("the visitor updated", func() bool {
			md, _ := s.sb.Pendo.Visitor(p[0])
			return md["custom"]["hubspot_firstname"] == name
		})
		out = append(out, time.Since(start).Seconds())
	}
	return out
}

// p95 is the 95th percentile (nearest rank).
func p95(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	k := (95*len(s) + 99) / 100
	return s[max(k-1, 0)]
}

// BenchmarkServePendoEvents measures, on the system clock, how long a
// Pendo track event takes to become a HubSpot custom event through
// Pendo's webhook (delivered every 250 ms) and serve (1 s debounce).
func BenchmarkServePendoEvents(b *testing.B) {
	for i := 0; i < b.N; i++ {
		sb, err := sandbox.Start(sandbox.Options{Contacts: 2000})
		if err != nil {
			b.Fatal(err)
		}
		s := startServeWith(b, serveConfig{db: filepath.Join(b.TempDir(), "w.duckdb"), now: time.Now, sb: sb, debounce: time.Second,
			files: pendoEventsProject()})
		sb.SendPendoWebhooks(&pendotest.Webhook{URL: s.url + "/hooks/pendo?token=" + pendoToken}, 250*time.Millisecond)
		visitor, _ := oneToOne(b, sb)
		var took []float64
		for n := range 20 {
			before := len(sb.HubSpot.Events())
			start := time.Now()
			trackEvent(b, sb, start, visitor, fmt.Sprintf("bench_event_%d", n))
			s.waitFor("the HubSpot event", func() bool { return len(sb.HubSpot.Events()) > before })
			took = append(took, time.Since(start).Seconds())
		}
		s.shutdown()
		sb.Close()
		fmt.Printf("bench: pendo_event_to_hubspot_p95_seconds %.2f s\n", p95(took))
	}
}
