package pendotest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/api/pendo/pendotest"
)

func findSpecs(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for i := 0; i < 6; i++ {
		for _, cand := range []string{filepath.Join(dir, "shared", "specs", "pendo"), filepath.Join(dir, "..", "shared", "specs", "pendo")} {
			if _, err := os.Stat(filepath.Join(cand, "pendo-io_pendo-ETL-API-calls")); err == nil {
				return filepath.Join(cand, "pendo-io_pendo-ETL-API-calls")
			}
		}
		dir = filepath.Dir(dir)
	}
	return ""
}

// seeded returns an emulator with visitors, accounts and generated activity.
func seeded(t *testing.T, now time.Time) (*pendotest.Server, *httptest.Server) {
	t.Helper()
	emu := pendotest.New(pendotest.Options{IntegrationKey: "k", TrackSecret: "ts"})
	emu.SetClock(func() time.Time { return now })
	for i := 0; i < 60; i++ {
		acct := fmt.Sprintf("acct-%d", i%6)
		emu.PutVisitor(fmt.Sprintf("v%03d", i), map[string]map[string]any{
			"agent": {"email": fmt.Sprintf("v%d@example.com", i)},
			"auto":  {"accountid": acct, "accountids": []any{acct}, "firstvisit": now.Add(-3 * time.Hour).UnixMilli()},
		})
		emu.PutAccount(acct, map[string]map[string]any{"agent": {"name": "Account " + acct}})
	}
	emu.PutVisitor("_PENDO_T_anon1", nil)
	if err := pendotest.GenerateActivity(emu, pendotest.ActivityOptions{Days: 40, NPSRate: 0.8}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv
}

func aggregate(t *testing.T, srv *httptest.Server, body []byte) (int, string, []map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/aggregation", bytes.NewReader(body))
	req.Header.Set("X-Pendo-Integration-Key", "k")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	var out struct {
		Results []map[string]any `json:"results"`
	}
	json.Unmarshal(buf.Bytes(), &out)
	return resp.StatusCode, buf.String(), out.Results
}

// TestPendoExamples feeds Pendo's own example requests to the emulator and
// checks the rows against Pendo's sample responses: every field a sample
// row has, with the same JSON type.
func TestPendoExamples(t *testing.T) {
	dir := findSpecs(t)
	if dir == "" {
		t.Skip("Pendo's example requests are not beside the repository (shared/specs/pendo); skipping")
	}
	now := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)
	_, srv := seeded(t, now)
	samples := map[string]string{
		"Feature Events Data/featureEvents.json":      "Feature Events Data/Sample Feature Event Data.txt",
		"Page Events Data/pageEvents.json":            "Page Events Data/Sample Page Event Data.txt",
		"Page - Feature - Guide IDs/allFeatures.json": "Page - Feature - Guide IDs/Sample Feature to FeatureId Lookup Table Data.txt",
		"Page - Feature - Guide IDs/allPages.json":    "Page - Feature - Guide IDs/Sample Page to PageId Lookup Table Data.txt",
		"User Data/accounts.json":                     "User Data/Sample Account Data.txt",
	}
	placeholders := strings.NewReplacer("yourGuideId", pendotest.NPSGuideID, "pollId1", pendotest.NPSScorePollID, "pollId2", pendotest.NPSTextPollID)
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.json"))
	if len(files) < 10 {
		t.Fatalf("found %d example requests", len(files))
	}
	for _, f := range files {
		rel, _ := filepath.Rel(dir, f)
		t.Run(strings.ReplaceAll(rel, " ", "_"), func(t *testing.T) {
			raw, _ := os.ReadFile(f)
			status, body, rows := aggregate(t, srv, []byte(placeholders.Replace(string(raw))))
			if status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			if len(rows) == 0 {
				t.Fatalf("no rows: %s", body)
			}
			sample, ok := samples[rel]
			if !ok {
				return
			}
			sraw, err := os.ReadFile(filepath.Join(dir, sample))
			if err != nil {
				t.Fatal(err)
			}
			// The samples are cut short; their first row is enough.
			dec := json.NewDecoder(bytes.NewReader(sraw))
			for {
				tok, err := dec.Token()
				if err != nil {
					t.Fatalf("sample %s: no results array: %v", sample, err)
				}
				if tok == json.Delim('[') {
					break
				}
			}
			var first map[string]any
			if err := dec.Decode(&first); err != nil {
				t.Fatalf("sample %s: first row: %v", sample, err)
			}
			for k, v := range first {
				got, ok := rows[0][k]
				if !ok {
					t.Errorf("rows lack %q (sample %s has it)", k, sample)
					continue
				}
				if v != nil && got != nil && fmt.Sprintf("%T", v) != fmt.Sprintf("%T", got) {
					t.Errorf("field %s is %T, the sample's is %T", k, got, v)
				}
			}
		})
	}
}
