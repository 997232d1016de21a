package demo_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/demo"
	"github.com/backflow-dev/backflow/examples"
)

func TestRun(t *testing.T) {
	sum, err := demo.Run(context.Background(), demo.Options{Dir: t.TempDir(), Contacts: 400, Changed: 25})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Passes) != 3 {
		t.Fatalf("passes = %d", len(sum.Passes))
	}
	if p := sum.Passes[0]; p.Pushed == 0 || p.Pushed != p.ModelRows || p.Failed+p.Skipped != 0 {
		t.Errorf("pass 1 = %+v", p)
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
	// Every recipe ran, and none failed a row.
	recipes := map[string]bool{}
	for _, r := range sum.Recipes {
		recipes[r.Recipe] = true
		if r.Failed > 0 || len(r.Pushed) != 2 {
			t.Errorf("recipe %s, sync %s: %d failed, passes %v", r.Recipe, r.Sync, r.Failed, r.Pushed)
		}
	}
	for _, name := range examples.Recipes() {
		if !recipes[name] {
			t.Errorf("the demo did not run recipe %s", name)
		}
	}
}

// BenchmarkDemo reports the demo's end-to-end time at its default size
// (2,000 contacts, three passes).
func BenchmarkDemo(b *testing.B) {
	for i := 0; i < b.N; i++ {
		start := time.Now()
		sum, err := demo.Run(context.Background(), demo.Options{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		d := time.Since(start).Seconds()
		b.ReportMetric(d, "s/demo")
		fmt.Printf("bench: demo_seconds %.2f s\n", d)
		fmt.Printf("bench: demo_first_pass_seconds %.2f s\n", sum.Passes[0].Seconds)
		fmt.Printf("bench: demo_recipes_seconds %.2f s\n", sum.RecipesSeconds)
	}
}
