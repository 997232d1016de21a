package models_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/backflow-dev/backflow/internal/memstat"
	"github.com/backflow-dev/backflow/models"
	"github.com/backflow-dev/backflow/warehouse"
)

// BenchmarkIdentity1M builds identity_contacts_visitors over 1,000,000
// contacts and 1,000,000 visitors (90% shared people, with stray case and
// whitespace, and some duplicated emails) in a file-backed DuckDB.
func BenchmarkIdentity1M(b *testing.B) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		w, err := warehouse.Open(ctx, filepath.Join(b.TempDir(), "w.duckdb"), warehouse.Options{})
		if err != nil {
			b.Fatal(err)
		}
		for _, q := range []string{
			`CREATE TABLE raw_hubspot.contacts AS SELECT 'c' || i AS id,
				CASE WHEN i % 10 = 0 THEN upper('user' || i || '@example' || (i % 5000) || '.com')
				     WHEN i % 997 = 0 THEN 'user' || (i - 1) || '@example' || ((i - 1) % 5000) || '.com'
				     ELSE 'user' || i || '@example' || (i % 5000) || '.com' END AS email,
				false AS archived FROM range(1000000) t(i)`,
			`CREATE TABLE raw_pendo.visitors AS SELECT 'v' || i AS visitor_id,
				CASE WHEN i % 10 < 9 THEN ' user' || i || '@Example' || (i % 5000) || '.com' || chr(9) ELSE 'other' || i || '@gmail.com' END AS agent__email,
				'acct' || (i % 5000) AS auto__accountid FROM range(1000000) t(i)`,
			`CHECKPOINT`,
		} {
			if _, err := w.DB().Exec(q); err != nil {
				b.Fatal(err)
			}
		}
		ms, err := models.Load(fstest.MapFS{}, "models", models.Identity{})
		if err != nil {
			b.Fatal(err)
		}
		ordered, err := models.Resolve(ctx, w.DB(), ms)
		if err != nil {
			b.Fatal(err)
		}
		sel, _ := models.Select(ordered, []string{"identity_contacts_visitors"})
		memstat.ResetPeak()
		start := time.Now()
		if _, err := models.Run(ctx, w, sel); err != nil {
			b.Fatal(err)
		}
		elapsed := time.Since(start).Seconds()
		peak := memstat.PeakMB()
		var matched, ambiguous int64
		w.DB().QueryRow(`SELECT count(*) FILTER (WHERE status = 'matched'), count(*) FILTER (WHERE status = 'ambiguous') FROM models.identity_contacts_visitors`).Scan(&matched, &ambiguous)
		w.Close()
		if matched < 800_000 || ambiguous == 0 {
			b.Fatalf("matched %d, ambiguous %d", matched, ambiguous)
		}
		b.ReportMetric(elapsed, "s")
		b.ReportMetric(peak, "peak-MB")
		fmt.Printf("bench: identity_1m_seconds %.2f s\n", elapsed)
		fmt.Printf("bench: identity_1m_peak_mb %.0f MB\n", peak)
		fmt.Printf("bench: identity_1m_matched %d rows\n", matched)
	}
}
