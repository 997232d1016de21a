package serve_test

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
	"github.com/backflow-dev/backflow/connector"
	"github.com/backflow-dev/backflow/internal/memstat"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/models"
	"github.com/backflow-dev/backflow/pipeline"
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

// accepting takes every row without a call, in large batches: it writes
// a 1,000,000-row snapshot through the real plan and record path, as
// setup.
type accepting struct{ load.Destination }

func (a accepting) Describe(ctx context.Context, req load.Request) (*load.Description, error) {
	d, err := a.Destination.Describe(ctx, req)
	if d != nil {
		d.BatchSize, d.RowsPerCall = 50_000, 50_000
	}
	return d, err
}

func (accepting) Apply(_ context.Context, rows []load.Row) ([]load.Outcome, error) {
	out := make([]load.Outcome, len(rows))
	for i := range out {
		out[i].Status = load.Applied
	}
	return out, nil
}

// BenchmarkServeCycle1M is one serve cycle for 25 changed contacts with
// 1,000,000 contacts and 1,000,000 matched visitors staged and synced (the
// HubSpot → Pendo metadata recipe): the keyed read, every model, the plans
// and the 25 rows sent, against emulators that answer at once (no API
// pacing). The small world comes from the sandbox; the million are copies
// of a staged contact and visitor with their own ids and emails, and the
// snapshot of what was "sent" is written through the real plan.
func BenchmarkServeCycle1M(b *testing.B) {
	const n = 1_000_000
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		sb, err := sandbox.Start(sandbox.Options{Contacts: 60, HubSpot: hubspottest.Options{BurstLimit: 1_000_000}})
		if err != nil {
			b.Fatal(err)
		}
		po := projectOptions(b, sb, filepath.Join(b.TempDir(), "w.duckdb"), nil)
		if _, err := pipeline.Run(ctx, po); err != nil {
			b.Fatal(err)
		}
		w, err := po.OpenWarehouse(ctx, "")
		if err != nil {
			b.Fatal(err)
		}
		for _, q := range []string{
			fmt.Sprintf(`INSERT INTO raw_hubspot.contacts BY NAME SELECT t.* REPLACE ((900000000 + r.i)::VARCHAR AS id, 'bulk' || r.i || '@example.com' AS email)
				FROM (SELECT * FROM raw_hubspot.contacts WHERE email IS NOT NULL LIMIT 1) t, range(%d) r(i)`, n),
			fmt.Sprintf(`INSERT INTO raw_pendo.visitors BY NAME SELECT t.* REPLACE ('bulk-' || r.i AS visitor_id, 'bulk' || r.i || '@example.com' AS agent__email)
				FROM (SELECT * FROM raw_pendo.visitors WHERE agent__email IS NOT NULL LIMIT 1) t, range(%d) r(i)`, n),
		} {
			if _, err := w.DB().ExecContext(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
		// Build the models over the million, and record them as sent.
		po.Warehouse, po.SkipExtract = w, true
		ordered, err := pipeline.Models(ctx, w, po.Project, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := models.Run(ctx, w, ordered); err != nil {
			b.Fatal(err)
		}
		for _, s := range po.Project.Syncs {
			dest := benchDestination(b, po, s)
			if _, err := load.Sync(ctx, w, "seed-"+s.Spec.Name, s.Spec, accepting{dest}); err != nil {
				b.Fatal(err)
			}
		}
		var modelRows int64
		if err := w.DB().QueryRowContext(ctx, `SELECT count(*) FROM models.hp_contact_traits`).Scan(&modelRows); err != nil || modelRows < n {
			b.Fatalf("the model holds %d rows (%v), want over %d", modelRows, err, n)
		}
		// 25 contacts change in HubSpot; their webhooks name them.
		var ids []string
		for _, id := range sb.HubSpot.ObjectIDs("contacts")[:25] {
			if err := sb.HubSpot.UpdateObject("contacts", id, map[string]string{"firstname": "Cycle"}); err != nil {
				b.Fatal(err)
			}
			ids = append(ids, id)
		}
		cycle := po
		cycle.SkipExtract, cycle.Command = false, "serve"
		cycle.Only, cycle.Keys = []string{"hubspot/contacts"}, map[string][]string{"hubspot/contacts": ids}
		memstat.ResetPeak()
		start := time.Now()
		res, err := pipeline.Run(ctx, cycle)
		took := time.Since(start).Seconds()
		peak := memstat.PeakMB()
		if err != nil {
			b.Fatal(err)
		}
		t := res.Totals()
		w.Close()
		sb.Close()
		b.ReportMetric(took, "s/cycle")
		fmt.Printf("bench: serve_cycle_1m_seconds %.2f s\n", took)
		fmt.Printf("bench: serve_cycle_1m_peak_mb %.0f MB\n", peak)
		fmt.Printf("bench: serve_cycle_1m_rows_sent %d rows\n", t.Applied)
		slow := slices.SortedFunc(slices.Values(res.Models), func(a, b models.Result) int { return cmp.Compare(b.Duration, a.Duration) })
		for _, m := range slow[:min(3, len(slow))] {
			fmt.Printf("    model %s (%s) %s\n", m.Model, m.Materialized, m.Duration.Round(time.Millisecond))
		}
	}
}

// benchDestination is sync s's real destination, from its connector.
func benchDestination(b *testing.B, po pipeline.Options, s pipeline.Sync) load.Destination {
	b.Helper()
	for _, c := range po.Project.Connectors {
		if c.Name != s.Destination {
			continue
		}
		session, err := c.Config.Open(connector.Env{Secrets: po.Secrets, Logger: slog.New(slog.DiscardHandler), Now: time.Now, Dir: po.Project.Dir})
		if err != nil {
			b.Fatal(err)
		}
		dest, err := session.Destination(s.Target, 1)
		if err != nil {
			b.Fatal(err)
		}
		return dest
	}
	b.Fatalf("no connector %s", s.Destination)
	return nil
}
