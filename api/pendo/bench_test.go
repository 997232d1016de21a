package pendo_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
)

// visitorStream answers an aggregation with n visitor rows generated on
// the fly, each shaped like Pendo's sample (agent, auto and custom
// groups, ~500 bytes), so that the benchmark measures the client, not an
// in-memory store.
func visitorStream(n int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		bw := bufio.NewWriterSize(w, 256<<10)
		fmt.Fprint(bw, `{"startTime":1795186800000,"results":[`)
		for i := 0; i < n; i++ {
			if i > 0 {
				bw.WriteByte(',')
			}
			fmt.Fprintf(bw, `{"visitorId":"user-%08d","metadata":{"agent":{"email":"user%d@example.com","full_name":"User %d","language":"en_US"},`+
				`"auto":{"accountid":"acct-%d","accountids":["acct-%d"],"firstvisit":1763547077029,"id":"user-%08d","idhash":%d,"lastbrowsername":"Chrome",`+
				`"lastbrowserversion":"130.0.6723","lastoperatingsystem":"Mac OS X","lastservername":"app.example.com","lastupdated":1795158257624,`+
				`"lastuseragent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5)","lastvisit":1795151385415},`+
				`"custom":{"plan":"professional","seats":%d,"churn_risk":0.%d,"renewal":1798761600000}}}`,
				i, i, i, i%5000, i%5000, i, 4108050209-i, i%300, i%10)
		}
		bw.WriteString("]}")
		bw.Flush()
	})
}

// decode streams an n-visitor response through Visitors and returns rows
// per second and the peak heap in MB, sampled every 5 ms.
func decode(b *testing.B, n int) (float64, float64) {
	srv := httptest.NewServer(visitorStream(n))
	defer srv.Close()
	c, err := pendo.New(pendo.Config{BaseURL: srv.URL, IntegrationKey: "k", HTTPClient: srv.Client()})
	if err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	rows := 0
	err = c.Visitors(context.Background(), pendo.ListOptions{PageSize: n + 1}, func(page []pendo.Entity) error {
		rows += len(page)
		return nil
	})
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil {
		b.Fatal(err)
	}
	if rows != n {
		b.Fatalf("decoded %d of %d rows", rows, n)
	}
	return float64(n) / elapsed.Seconds(), float64(peak.Load()) / (1 << 20)
}

// BenchmarkDecodeVisitors decodes a 1,000,000-visitor aggregation response
// and, for comparison, a 100,000-visitor one: memory must stay flat.
func BenchmarkDecodeVisitors(b *testing.B) {
	for i := 0; i < b.N; i++ {
		_, small := decode(b, 100_000)
		rate, peak := decode(b, 1_000_000)
		b.ReportMetric(rate, "rows/s")
		b.ReportMetric(peak, "peak-MB")
		fmt.Printf("bench: pendo_decode_rows_per_s %.0f rows/s\n", rate)
		fmt.Printf("bench: pendo_decode_peak_mb %.1f MB\n", peak)
		fmt.Printf("bench: pendo_decode_peak_mb_100k %.1f MB\n", small)
	}
}

// BenchmarkTrackThroughput sends 1,500 track events (15 s at the
// emulator's 100 requests/s) and reports the rate as a share of it.
func BenchmarkTrackThroughput(b *testing.B) {
	const n = 1500
	emu := pendotest.New(pendotest.Options{IntegrationKey: "k", TrackSecret: "s"})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	c, err := pendo.New(pendo.Config{BaseURL: srv.URL, IntegrationKey: "k", TrackSecret: "s", HTTPClient: srv.Client()})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		now := time.Now()
		events := make([]pendo.TrackEvent, n)
		for k := range events {
			events[k] = pendo.TrackEvent{Event: "Warehouse Sync", VisitorID: fmt.Sprintf("v%d", k%100), Timestamp: now, Properties: map[string]any{"k": k}}
		}
		start := time.Now()
		errs := c.TrackAll(context.Background(), events, 8)
		elapsed := time.Since(start).Seconds()
		failed := 0
		for _, err := range errs {
			if err != nil {
				failed++
			}
		}
		_, limited := emu.Requests()
		ratio := float64(n) / elapsed / 100
		b.ReportMetric(ratio, "ratio")
		fmt.Printf("bench: pendo_track_ratio %.3f ratio\n", ratio)
		fmt.Printf("bench: pendo_track_lost %d events\n", n-emu.TrackReceived()+failed)
		fmt.Printf("bench: pendo_track_429s %d responses\n", limited)
	}
}
