package hubspot_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
)

// The benchmarks run against the emulator at a Professional tier's 190
// requests per 10 seconds, whose ceiling for 100-record batches and pages
// is 1,900 records per second.
const (
	benchBurst   = 190
	benchCeiling = 1900.0 // records/s
)

func benchPair(b *testing.B, contacts int) (*hubspottest.Server, *hubspot.Client, []string) {
	b.Helper()
	emu := hubspottest.New(hubspottest.Options{Tokens: []string{token}, BurstLimit: benchBurst})
	ids := make([]string, contacts)
	for i := range ids {
		id, err := emu.CreateObject("contacts", map[string]string{"email": fmt.Sprintf("b%d@example.com", i), "hubspotscore": "0"})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = id
	}
	srv := httptest.NewServer(emu)
	b.Cleanup(srv.Close)
	c, err := hubspot.New(hubspot.Config{BaseURL: srv.URL, HTTPClient: srv.Client(), Token: token, BurstLimit: benchBurst})
	if err != nil {
		b.Fatal(err)
	}
	return emu, c, ids
}

// BenchmarkBatchUpdateThroughput updates 114,000 contacts (60 s at the
// ceiling) in batches of 100 from four workers sharing the client's
// limiter, and reports the achieved rate as a share of the ceiling.
func BenchmarkBatchUpdateThroughput(b *testing.B) {
	const records = 114_000
	emu, c, ids := benchPair(b, records)
	for i := 0; i < b.N; i++ {
		batches := make(chan []string)
		var wg sync.WaitGroup
		var failed atomic.Int64
		start := time.Now()
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for batch := range batches {
					inputs := make([]hubspot.Input, len(batch))
					for k, id := range batch {
						inputs[k] = hubspot.Input{ID: id, Properties: map[string]string{"hubspotscore": "42"}}
					}
					res, err := c.BatchUpdate(context.Background(), "contacts", inputs)
					if err != nil {
						failed.Add(int64(len(batch)))
						continue
					}
					for _, r := range res {
						if r.Err != nil {
							failed.Add(1)
						}
					}
				}
			}()
		}
		for k := 0; k < len(ids); k += hubspot.MaxBatch {
			batches <- ids[k:min(k+hubspot.MaxBatch, len(ids))]
		}
		close(batches)
		wg.Wait()
		elapsed := time.Since(start).Seconds()
		lost := 0
		for _, id := range ids {
			if o, _ := emu.Object("contacts", id); o.Properties["hubspotscore"] != "42" {
				lost++
			}
		}
		_, limited := emu.Requests()
		ratio := float64(records) / elapsed / benchCeiling
		b.ReportMetric(ratio, "ratio")
		fmt.Printf("bench: hubspot_update_ratio %.3f ratio\n", ratio)
		fmt.Printf("bench: hubspot_update_seconds %.1f s\n", elapsed)
		fmt.Printf("bench: hubspot_update_lost %d rows\n", lost+int(failed.Load()))
		fmt.Printf("bench: hubspot_update_429s %d responses\n", limited)
	}
}

// BenchmarkListThroughput lists 57,000 contacts (30 s at the ceiling),
// 100 per page, with six properties, and reports the rate as a share of
// the ceiling. List pages are sequential: each needs the previous cursor.
func BenchmarkListThroughput(b *testing.B) {
	const records = 57_000
	_, c, _ := benchPair(b, records)
	for i := 0; i < b.N; i++ {
		start := time.Now()
		n := 0
		err := c.List(context.Background(), "contacts", hubspot.ListOptions{Properties: []string{"email", "firstname", "lastname", "hubspotscore", "lifecyclestage", "phone"}},
			func(objs []hubspot.Object) error { n += len(objs); return nil })
		if err != nil {
			b.Fatal(err)
		}
		if n != records {
			b.Fatalf("listed %d of %d", n, records)
		}
		ratio := float64(n) / time.Since(start).Seconds() / benchCeiling
		b.ReportMetric(ratio, "ratio")
		fmt.Printf("bench: hubspot_list_ratio %.3f ratio\n", ratio)
	}
}
