package hubspot_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
	connhs "github.com/backflow-dev/backflow/connector/hubspot"
	"github.com/backflow-dev/backflow/extract"
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

// BenchmarkIngestWide compares staging 100,000 contacts with 200
// properties (decode, convert to Arrow, ingest) with only decoding the
// same pages.
func BenchmarkIngestWide(b *testing.B) {
	srv := httptest.NewServer(widePages(200, 1000))
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
		start := time.Now()
		n := 0
		if err := c.List(context.Background(), "contacts", hubspot.ListOptions{Properties: names}, func(o []hubspot.Object) error { n += len(o); return nil }); err != nil {
			b.Fatal(err)
		}
		decode := time.Since(start)
		w, err := warehouse.Open(context.Background(), filepath.Join(b.TempDir(), "w.duckdb"), warehouse.Options{})
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		res, err := extract.Run(context.Background(), w, "bench", []extract.Source{&connhs.Source{Client: c, Objects: []string{"contacts"}}}, extract.Options{})
		if err != nil {
			b.Fatal(err)
		}
		full := time.Since(start)
		w.Close()
		if n != 100_000 || result(res, "hubspot/contacts").Rows != 100_000 {
			b.Fatalf("decoded %d, staged %v", n, res)
		}
		ratio := full.Seconds() / decode.Seconds()
		b.ReportMetric(ratio, "ratio")
		fmt.Printf("bench: ingest_wide_overhead %.2f ratio\n", ratio)
		fmt.Printf("bench: ingest_wide_decode_seconds %.2f s\n", decode.Seconds())
		fmt.Printf("bench: ingest_wide_total_seconds %.2f s\n", full.Seconds())
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
