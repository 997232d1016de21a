package demo_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/demo"
	"github.com/backflow-dev/backflow/examples"
	"github.com/backflow-dev/backflow/internal/clock/clocktest"
)

// counts is what a demo pushed, run by run: the figures two demos started
// at the same instant must agree on.
func counts(sum *demo.Summary) string {
	out := ""
	for i, p := range sum.Passes {
		out += fmt.Sprintf("pass %d staged %d model %d pushed %d; ", i+1, p.Staged, p.ModelRows, p.Pushed)
	}
	for _, r := range sum.Recipes {
		out += fmt.Sprintf("%s %v; ", r.Sync, r.Pushed)
	}
	return out
}

// TestRun runs the demo at instants where windows and day buckets are
// most likely to be wrong: the three passes push N, 0 and exactly the 25
// changed, the recipes reach a run that sends nothing, and nothing fails.
// At the first instant it runs twice: the same instant, the same counts.
func TestRun(t *testing.T) {
	for i, name := range []string{"before_local_midnight", "after_local_midnight", "dst_starts", "dst_ends", "utc_midnight"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			now := clocktest.Named(name)
			sum := check(t, now)
			if i == 0 {
				again := check(t, now)
				if a, b := counts(sum), counts(again); a != b {
					t.Errorf("two demos at %s differ:\n%s\n%s", now, a, b)
				}
			}
		})
	}
}

func check(t *testing.T, now time.Time) *demo.Summary {
	t.Helper()
	sum, err := demo.Run(context.Background(), demo.Options{Dir: t.TempDir(), Contacts: 400, Changed: 25, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Now.Equal(now) || len(sum.Passes) != 3 {
		t.Fatalf("now %s, %d passes", sum.Now, len(sum.Passes))
	}
	if p := sum.Passes[0]; p.Pushed == 0 || p.Pushed != p.ModelRows || p.Failed+p.Skipped != 0 {
		t.Errorf("pass 1 = %+v", p)
	}
	// Every column of the demo's and the recipes' models resolves to its
	// sources, and every sync field is traced.
	if l := sum.Lineage; l.Unknown != 0 || l.Fields == 0 || l.Columns == 0 {
		t.Errorf("demo lineage = %+v, want every column resolved", l)
	}
	if l := sum.RecipesLineage; l == nil || l.Unknown != 0 || l.Fields < len(examples.Recipes()) {
		t.Errorf("recipes lineage = %+v, want every column resolved", l)
	}
	if p := sum.Passes[1]; p.Pushed != 0 {
		t.Errorf("pass 2 pushed %d, want 0", p.Pushed)
	}
	if p := sum.Passes[2]; p.Pushed != 25 {
		t.Errorf("pass 3 pushed %d, want 25", p.Pushed)
	}
	if sum.Verified != int(sum.Passes[0].Pushed) {
		t.Errorf("verified %d visitors, want %d", sum.Verified, sum.Passes[0].Pushed)
	}
	// Every recipe ran, none failed a row, and the last run sent nothing.
	runs := len(sum.RecipeRuns)
	if sum.RecipesSettled != runs || runs < 2 {
		t.Errorf("recipes settled at run %d of %d", sum.RecipesSettled, runs)
	}
	recipes := map[string]bool{}
	for _, r := range sum.Recipes {
		recipes[r.Recipe] = true
		if r.Failed > 0 || len(r.Pushed) != runs || r.Pushed[0] == 0 || r.Pushed[runs-1] != 0 {
			t.Errorf("recipe %s, sync %s: %d failed, runs %v", r.Recipe, r.Sync, r.Failed, r.Pushed)
		}
	}
	for _, name := range examples.Recipes() {
		if !recipes[name] {
			t.Errorf("the demo did not run recipe %s", name)
		}
	}
	for i, rr := range sum.RecipeRuns {
		var total int64
		for _, n := range rr.Syncs {
			total += n
		}
		if total != rr.Pushed || (i > 0 && !rr.At.After(sum.RecipeRuns[i-1].At)) {
			t.Errorf("recipes run %d: %+v", i+1, rr)
		}
	}
	if slices.ContainsFunc(sum.Passes, func(p demo.Pass) bool { return p.At.Before(now) }) {
		t.Errorf("a pass ran before the demo's start: %+v", sum.Passes)
	}
	return sum
}

// BenchmarkDemo reports the demo's end-to-end time at its default size
// (2,000 contacts, three passes).
func BenchmarkDemo(b *testing.B) {
	for i := 0; i < b.N; i++ {
		start := time.Now()
		sum, err := demo.Run(context.Background(), demo.Options{Dir: b.TempDir(), Now: clocktest.Named("afternoon")})
		if err != nil {
			b.Fatal(err)
		}
		d := time.Since(start).Seconds()
		b.ReportMetric(d, "s/demo")
		fmt.Printf("bench: demo_seconds %.2f s\n", d)
		fmt.Printf("bench: demo_first_pass_seconds %.2f s\n", sum.Passes[0].Seconds)
		fmt.Printf("bench: demo_recipes_seconds %.2f s\n", sum.RecipesSeconds)
		fmt.Printf("bench: check_demo_seconds %.2f s\n", sum.CheckSeconds)
		// Column lineage of the demo project and of every recipe: DuckDB
		// parses each model, backflow walks it and traces each sync field.
		lineage := sum.Lineage.Seconds
		if sum.RecipesLineage != nil {
			lineage += sum.RecipesLineage.Seconds
		}
		fmt.Printf("bench: lineage_seconds %.3f s\n", lineage)
	}
}
