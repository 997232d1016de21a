package pendotest_test

import (
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
