package pendo_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
	connpd "github.com/backflow-dev/backflow/connector/pendo"
	"github.com/backflow-dev/backflow/extract"
)

// TestPendo_Segments stages the segments a project names and their
// members; the next run follows members in and out; a name Pendo does not
// share is an error naming the ones it does.
func TestPendo_Segments(t *testing.T) {
	ctx := context.Background()
	emu := pendotest.New(pendotest.Options{IntegrationKey: "k", RequestsPerSecond: 100_000})
	for i := range 8 {
		emu.PutVisitor(fmt.Sprintf("v%d", i), map[string]map[string]any{"agent": {"plan": []string{"free", "pro"}[i%2]}})
	}
	emu.AddSegment("Pro", func(md map[string]map[string]any) bool { return md["agent"]["plan"] == "pro" })
	beta := emu.AddUploadedSegment("Beta", "v0", "v1")
	emu.AddUploadedSegment("Not asked for", "v2")
	srv := httptest.NewServer(emu)
	defer srv.Close()
	c, _ := pendo.New(pendo.Config{BaseURL: srv.URL, IntegrationKey: "k"})
	w := openWarehouse(t)
	src := &connpd.Source{Client: c, Tables: []string{"segments"}, Segments: []string{"Pro", "Beta"}, PageSize: 3}
	run := func(id string) {
		t.Helper()
		if _, err := extract.Run(ctx, w, id, []extract.Source{src}, extract.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	members := func() string {
		var s string
		w.DB().QueryRow(`SELECT string_agg(s.name || ':' || m.visitor_id, ',' ORDER BY s.name, m.visitor_id)
			FROM raw_pendo.segment_members m JOIN raw_pendo.segments s ON s.id = m.segment_id`).Scan(&s)
		return s
	}
	run("r1")
	if got := members(); got != "Beta:v0,Beta:v1,Pro:v1,Pro:v3,Pro:v5,Pro:v7" {
		t.Fatalf("members: %s", got)
	}
	emu.PutVisitor("v1", map[string]map[string]any{"agent": {"plan": "free"}})
	emu.SetSegmentMembers(beta, "v4")
	run("r2")
	if got := members(); got != "Beta:v4,Pro:v3,Pro:v5,Pro:v7" {
		t.Fatalf("after the changes: %s", got)
	}
	src.Segments = []string{"Gone"}
	if _, err := extract.Run(ctx, w, "r3", []extract.Source{src}, extract.Options{}); err == nil || !strings.Contains(err.Error(), `no segment named "Gone"`) || !strings.Contains(err.Error(), "Pro, Beta") {
		t.Fatalf("an unknown segment: %v", err)
	}
}
