package pendo_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
)

// TestClient_Segments: segments are listed and read by id; a segment's
// members are read in id order across pages, only those Pendo knows.
func TestClient_Segments(t *testing.T) {
	emu, c := newPair(t, pendotest.Options{}, pendo.Config{})
	for i := range 9 {
		emu.PutVisitor(fmt.Sprintf("v%d", i), map[string]map[string]any{"agent": {"n": float64(i)}})
	}
	odd := emu.AddSegment("Odd", func(md map[string]map[string]any) bool { return int(md["agent"]["n"].(float64))%2 == 1 })
	emu.AddUploadedSegment("Beta", "v0", "ghost")
	ctx := context.Background()
	segs, err := c.Segments(ctx)
	if err != nil || len(segs) != 2 || segs[0].Name != "Odd" || segs[0].UpdatedAt.IsZero() {
		t.Fatalf("segments: %+v %v", segs, err)
	}
	if s, err := c.Segment(ctx, odd); err != nil || s.Name != "Odd" {
		t.Fatalf("segment: %+v %v", s, err)
	}
	if _, err := c.Segment(ctx, "nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("unknown segment: %v", err)
	}
	var got []string
	if err := c.SegmentMembers(ctx, odd, 2, func(id string) error { got = append(got, id); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[v1 v3 v5 v7]" {
		t.Fatalf("members %v", got)
	}
}

// TestClient_SegmentsAnswerChecked: a list with a repeated or empty id,
// and a read answering another segment, are refused.
func TestClient_SegmentsAnswerChecked(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/api/v1/segment" {
			w.Write([]byte(`[{"id":"a","name":"A"},{"id":"a","name":"A again"}]`))
			return
		}
		w.Write([]byte(`{"id":"other","name":"Other"}`))
	}))
	defer srv.Close()
	c, err := pendo.New(pendo.Config{BaseURL: srv.URL, IntegrationKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Segments(context.Background()); err == nil || !strings.Contains(err.Error(), "repeated") {
		t.Fatalf("a repeated id: %v", err)
	}
	if _, err := c.Segment(context.Background(), "a"); err == nil || !strings.Contains(err.Error(), "other") {
		t.Fatalf("another segment's answer: %v", err)
	}
}
