package pendotest_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/api/pendo/pendotest"
)

// TestFaults_RateLimitStorm: a 429 storm refuses requests before the work,
// with Pendo's plain-text 429, and counts them as faults.
func TestFaults_RateLimitStorm(t *testing.T) {
	emu := pendotest.New(pendotest.Options{IntegrationKey: "k", Faults: pendotest.Faults{RateLimitRate: 0.5, Seed: 5}})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	limited := 0
	for range 100 {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/metadata/schema/visitor", nil)
		req.Header.Set("X-Pendo-Integration-Key", "k")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusTooManyRequests:
			limited++
		case http.StatusOK:
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if limited < 30 || limited > 70 || emu.Faulted() != limited {
		t.Errorf("%d of 100 refused, Faulted %d: want about half, all counted", limited, emu.Faulted())
	}
}

// TestFaults_AfterTheWorkAndCuts: a track event answered 502 after the
// work is recorded all the same; an aggregation answer cut after a number
// of bytes ends there with the connection closed.
func TestFaults_AfterTheWorkAndCuts(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	emu := pendotest.New(pendotest.Options{IntegrationKey: "k", TrackSecret: "ts"})
	emu.SetClock(func() time.Time { return now })
	for i := range 50 {
		emu.PutVisitor(fmt.Sprintf("v%02d", i), nil)
	}
	srv := httptest.NewServer(emu)
	defer srv.Close()

	emu.FailAfterOn("track", 502)
	body := fmt.Sprintf(`{"type":"track","event":"Clicked","visitorId":"v01","timestamp":%d,"context":{}}`, now.UnixMilli())
	req, _ := http.NewRequest("POST", srv.URL+"/data/track", strings.NewReader(body))
	req.Header.Set("X-Pendo-Integration-Key", "ts")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 || emu.TrackReceived() != 1 || emu.FailedAfter() != 1 {
		t.Fatalf("status %d, %d received, %d failed after: want 502, the event kept, 1", resp.StatusCode, emu.TrackReceived(), emu.FailedAfter())
	}

	emu.CutOn("aggregation", 200)
	agg := `{"response":{"mimeType":"application/json"},"request":{"pipeline":[{"source":{"visitors":null}}]}}`
	req, _ = http.NewRequest("POST", srv.URL+"/api/v1/aggregation", strings.NewReader(agg))
	req.Header.Set("X-Pendo-Integration-Key", "k")
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || len(got) > 200 || emu.Cuts() != 1 {
		t.Fatalf("read %d bytes, err %v, %d cuts: want at most 200 bytes, a broken connection, 1 cut", len(got), err, emu.Cuts())
	}
}

// TestSegments: shared segments are listed and read by id (404 for
// others); an aggregation's segment step keeps the members Pendo knows:
// a rule segment's follow the metadata, an uploaded segment's ids that
// never visited are not returned; an unknown segment is a 400.
func TestSegments(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	emu := pendotest.New(pendotest.Options{IntegrationKey: "k"})
	emu.SetClock(func() time.Time { return now })
	for i := range 6 {
		emu.PutVisitor(fmt.Sprintf("v%d", i), map[string]map[string]any{"agent": {"plan": []string{"free", "pro"}[i%2]}})
	}
	pro := emu.AddSegment("Pro users", func(md map[string]map[string]any) bool { return md["agent"]["plan"] == "pro" })
	up := emu.AddUploadedSegment("Beta", "v0", "v2", "never-seen")
	srv := httptest.NewServer(emu)
	defer srv.Close()
	get := func(path string) (int, string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("X-Pendo-Integration-Key", "k")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, body := get("/api/v1/segment"); status != 200 || !strings.Contains(body, `"name":"Pro users"`) || !strings.Contains(body, `"name":"Beta"`) {
		t.Fatalf("list: %d %s", status, body)
	}
	if status, body := get("/api/v1/segment/" + pro); status != 200 || !strings.Contains(body, `"kind":"Segment"`) {
		t.Fatalf("get: %d %s", status, body)
	}
	if status, _ := get("/api/v1/segment/nope"); status != 404 {
		t.Fatalf("unknown segment: %d, want 404", status)
	}
	members := func(seg string) (int, []string) {
		body := fmt.Sprintf(`{"response":{"mimeType":"application/json"},"request":{"pipeline":[{"source":{"visitors":null}},{"segment":{"id":%q}},{"select":{"visitorId":"visitorId"}}]}}`, seg)
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/aggregation", strings.NewReader(body))
		req.Header.Set("X-Pendo-Integration-Key", "k")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Results []struct{ VisitorID string } `json:"results"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		var ids []string
		for _, r := range out.Results {
			ids = append(ids, r.VisitorID)
		}
		return resp.StatusCode, ids
	}
	if status, ids := members(pro); status != 200 || fmt.Sprint(ids) != "[v1 v3 v5]" {
		t.Fatalf("pro members: %d %v", status, ids)
	}
	if _, ids := members(up); fmt.Sprint(ids) != "[v0 v2]" {
		t.Fatalf("uploaded members %v, want the two Pendo knows", ids)
	}
	emu.PutVisitor("v0", map[string]map[string]any{"agent": {"plan": "pro"}})
	if _, ids := members(pro); fmt.Sprint(ids) != "[v0 v1 v3 v5]" {
		t.Fatalf("after v0 upgraded: %v", ids)
	}
	if status, _ := members("nope"); status != 400 {
		t.Fatalf("an unknown segment in an aggregation: %d, want 400", status)
	}
}
