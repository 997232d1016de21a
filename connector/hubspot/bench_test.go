package hubspot_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	connhs "github.com/backflow-dev/backflow/connector/hubspot"
	"github.com/backflow-dev/backflow/extract"
	"github.com/backflow-dev/backflow/internal/memstat"
	"github.com/backflow-dev/backflow/warehouse"
)

// widePages serves /crm/v3/properties/contacts with props number and
// string properties and /crm/v3/objects/contacts as pages of 100 records
// carrying all of them, pages total, generated from one template so that
// the server costs little next to the client.
func widePages(props, pages int) http.Handler {
	var defs []string
	var vals []string
	for i := 0; i < props; i++ {
		typ := "string"
		val := fmt.Sprintf(`"value %d of a text property"`, i)
		if i%3 == 0 {
			typ, val = "number", fmt.Sprintf(`"%d.25"`, i)
		}
		defs = append(defs, fmt.Sprintf(`{"name":"prop_%03d","label":"P %d","type":"%s","fieldType":"text","groupName":"g","options":[],"modificationMetadata":{"readOnlyValue":false}}`, i, i, typ))
		vals = append(vals, fmt.Sprintf(`"prop_%03d":%s`, i, val))
	}
	propsBody := []byte(`{"results":[` + strings.Join(defs, ",") + `]}`)
	record := `{"id":"%d","properties":{"hs_object_id":"%d",` + strings.Join(vals, ",") + `},"createdAt":"2026-01-01T00:00:00.000Z","updatedAt":"2026-01-02T00:00:00.000Z","archived":false}`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.HasPrefix(r.URL.Path, "/crm/v3/properties/") {
			w.Write(propsBody)
			return
		}
		if r.URL.Query().Get("archived") == "true" {
			w.Write([]byte(`{"results":[]}`))
			return
		}
		page, _ := strconv.Atoi(r.URL.Query().Get("after"))
		var buf bytes.Buffer
		buf.WriteString(`{"results":[`)
		for k := 0; k < 100; k++ {
			if k > 0 {
				buf.WriteByte(',')
			}
			id := page*100 + k + 1
			fmt.Fprintf(&buf, record, id, id)
		}
		buf.WriteString(`]`)
		if page+1 < pages {
			fmt.Fprintf(&buf, `,"paging":{"next":{"after":"%d"}}`, page+1)
		}
		buf.WriteString(`}`)
		w.Write(buf.Bytes())
	})
}

// rawPages reads the pages of widePages as bytes into io.Discard: the
// wire's speed for the same answers, the baseline of the decode ratio.
func rawPages(b *testing.B, srv *httptest.Server, pages int) time.Duration {
	start := time.Now()
	for k := 0; k < pages; k++ {
		u := srv.URL + "/crm/v3/objects/contacts?limit=100"
		if k > 0 {
			u += "&after=" + strconv.Itoa(k)
		}
		resp, err := srv.Client().Get(u)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
	return time.Since(start)
}

// stageWide stages pages×100 contacts with 200 properties into a new
// file with DuckDB's memory capped at limit, and returns the seconds it
// took and the peak resident memory of the process meanwhile.
func stageWide(b *testing.B, c *hubspot.Client, limit string, want int64) (float64, float64) {
	w, err := warehouse.Open(context.Background(), filepath.Join(b.TempDir(), "w.duckdb"), warehouse.Options{MemoryLimit: limit})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	runtime.GC()
	debug.FreeOSMemory()
	memstat.ResetPeak()
	start := time.Now()
	res, err := extract.Run(context.Background(), w, "bench", []extract.Source{&connhs.Source{Client: c, Objects: []string{"contacts"}}}, extract.Options{})
	if err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start).Seconds()
	peak := memstat.PeakMB()
	if got := result(res, "hubspot/contacts").Rows; got != want {
		b.Fatalf("staged %d of %d", got, want)
	}
	return elapsed, peak
}

// BenchmarkIngestWide decodes 100,000 contacts with 200 properties
// through the client, against a raw read of the same pages, then stages
// them (decode, convert to Arrow, ingest) and reports the peak memory.
func BenchmarkIngestWide(b *testing.B) {
	const pages = 1000
	srv := httptest.NewServer(widePages(200, pages))
	defer srv.Close()
	c, err := hubspot.New(hubspot.Config{BaseURL: srv.URL, Token: "t", BurstLimit: 1_000_000_000, HTTPClient: srv.Client()})
	if err != nil {
		b.Fatal(err)
	}
	props, _ := c.Properties(context.Background(), "contacts")
	names := make([]string, len(props))
	for i, p := range props {
		names[i] = p.Name
	}
	for i := 0; i < b.N; i++ {
		raw := rawPages(b, srv, pages)
		start := time.Now()
		n, cells := 0, 0
		err := c.ListPages(context.Background(), "contacts", hubspot.ListOptions{Properties: names}, func(p *hubspot.Page) error {
			for r := range p.Len() {
				p.Values(r, func(int, []byte, bool) { cells++ })
			}
			n += p.Len()
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		decode := time.Since(start)
		if n != 100*pages || cells != 201*n {
			b.Fatalf("decoded %d records, %d values", n, cells)
		}
		full, peak := stageWide(b, c, "2GB", 100*pages) // the project default, memory_limit
		ratio := raw.Seconds() / decode.Seconds()
		b.ReportMetric(ratio, "ratio")
		fmt.Printf("bench: hubspot_wide_decode_ratio %.2f ratio\n", ratio)
		fmt.Printf("bench: hubspot_wide_decode_rows_per_s %.0f rows/s\n", float64(n)/decode.Seconds())
		fmt.Printf("bench: hubspot_wide_raw_read_rows_per_s %.0f rows/s\n", float64(n)/raw.Seconds())
		fmt.Printf("bench: ingest_wide_overhead %.2f ratio\n", full/decode.Seconds())
		fmt.Printf("bench: ingest_wide_total_seconds %.2f s\n", full)
		fmt.Printf("bench: ingest_wide_peak_mb %.0f MB\n", peak)
	}
}

// BenchmarkIngestWide1M stages 1,000,000 contacts with 200 properties with
// DuckDB's memory capped at 1 GB: ten times the portal must not need ten
// times the memory.
func BenchmarkIngestWide1M(b *testing.B) {
	const pages = 10_000
	srv := httptest.NewServer(widePages(200, pages))
	defer srv.Close()
	c, err := hubspot.New(hubspot.Config{BaseURL: srv.URL, Token: "t", BurstLimit: 1_000_000_000, HTTPClient: srv.Client(), MaxPages: 2 * pages})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		full, peak := stageWide(b, c, "1GB", 100*pages)
		fmt.Printf("bench: ingest_wide_1m_peak_mb %.0f MB\n", peak)
		fmt.Printf("bench: ingest_wide_1m_seconds %.1f s\n", full)
	}
}

// BenchmarkHubSpotExtract extracts 50,000 contacts from the emulator at
// 190 requests per 10 s, whose ceiling at 100 per page is 1,900 records/s.
func BenchmarkHubSpotExtract(b *testing.B) {
	emu := hubspottest.New(hubspottest.Options{Tokens: []string{"t"}, BurstLimit: 190})
	for i := 0; i < 50_000; i++ {
		emu.CreateObject("contacts", map[string]string{"email": fmt.Sprintf("c%d@example.com", i), "firstname": "C", "hubspotscore": "5"})
	}
	srv := httptest.NewServer(emu)
	defer srv.Close()
	for i := 0; i < b.N; i++ {
		c, _ := hubspot.New(hubspot.Config{BaseURL: srv.URL, Token: "t", BurstLimit: 190, HTTPClient: srv.Client()})
		w, err := warehouse.Open(context.Background(), filepath.Join(b.TempDir(), "w.duckdb"), warehouse.Options{})
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		res, err := extract.Run(context.Background(), w, "bench", []extract.Source{&connhs.Source{Client: c, Objects: []string{"contacts"}}}, extract.Options{})
		if err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start).Seconds()
		w.Close()
		if got := result(res, "hubspot/contacts").Rows; got != 50_000 {
			b.Fatalf("staged %d", got)
		}
		ratio := 50_000 / elapsed / 1900
		b.ReportMetric(ratio, "ratio")
		fmt.Printf("bench: hubspot_extract_ratio %.3f ratio\n", ratio)
	}
}
