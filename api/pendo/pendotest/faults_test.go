package pendotest_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

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
