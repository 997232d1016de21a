package pendo

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	api "github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
	"github.com/backflow-dev/backflow/extract/extracttest"
	"github.com/backflow-dev/backflow/internal/clock"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/load/loadtest"
)

func TestLoadSuite(t *testing.T) {
	for _, target := range []loadtest.Target{metadataTarget(), trackTarget()} {
		t.Run(target.Name, func(t *testing.T) { loadtest.Run(t, target) })
	}
}

func TestExtractSuite(t *testing.T) {
	for _, src := range []extracttest.Source{visitorsSource(), segmentsSource(), segmentMembersSource()} {
		t.Run(src.Name, func(t *testing.T) { extracttest.Run(t, src) })
	}
}

// sourceServer is an emulator and a client of it for a source suite;
// calls to path fail while the returned flag is set.
func sourceServer(t *testing.T, path string) (*pendotest.Server, *clock.Manual, *api.Client, *atomic.Bool) {
	clk := clock.NewManual(time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC))
	emu := pendotest.New(pendotest.Options{IntegrationKey: key, RequestsPerSecond: 100_000, Now: clk.Now})
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() && r.URL.Path == path {
			http.Error(w, `{"overall":{},"fields":{},"message":"Forbidden"}`, http.StatusForbidden)
			return
		}
		emu.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := api.New(api.Config{BaseURL: srv.URL, IntegrationKey: key, RequestsPerSecond: 100_000, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return emu, clk, c, &failing
}

// segmentsSource is raw_pendo.segments, read whole: a Put adds an
// uploaded segment named value, or renames it.
func segmentsSource() extracttest.Source {
	return extracttest.Source{Name: "pendo_segments", New: func(t *testing.T) *extracttest.Fixture {
		emu, clk, c, failing := sourceServer(t, "/api/v1/segment")
		ids := map[string]string{}
		return &extracttest.Fixture{
			Source: &Source{Client: c, Tables: []string{"segments"}, Now: clk.Now},
			Stream: "pendo/segments", Schema: "raw_pendo", Table: "segments", KeyColumn: "id", ValueColumn: "name",
			Put: func(ref, value string) string {
				if id, ok := ids[ref]; ok {
					if err := emu.RenameSegment(id, value); err != nil {
						t.Fatal(err)
					}
					return id
				}
				ids[ref] = emu.AddUploadedSegment(value)
				return ids[ref]
			},
			Advance: clk.Advance, Now: clk.Now, Whole: true, Fail: failing.Store,
		}
	}}
}

// segmentMembersSource is raw_pendo.segment_members (read with the
// segments), whole: a Put moves a visitor into the uploaded segment named
// value, out of the one it was in; the table holds that segment's id.
func segmentMembersSource() extracttest.Source {
	return extracttest.Source{Name: "pendo_segment_members", New: func(t *testing.T) *extracttest.Fixture {
		emu, clk, c, failing := sourceServer(t, "/api/v1/aggregation")
		segs, in := map[string]string{}, map[string]string{}
		segment := func(name string) string {
			if id, ok := segs[name]; ok {
				return id
			}
			segs[name] = emu.AddUploadedSegment(name)
			return segs[name]
		}
		return &extracttest.Fixture{
			Source: &Source{Client: c, Tables: []string{"segments"}, PageSize: 5000, Now: clk.Now},
			Stream: "pendo/segment_members", With: []string{"pendo/segments"}, Schema: "raw_pendo", Table: "segment_members",
			KeyColumn: "visitor_id", ValueColumn: "segment_id",
			Put: func(ref, value string) string {
				emu.PutVisitor(ref, map[string]map[string]any{"agent": {"language": "en_US"}})
				if old, ok := in[ref]; ok && old != value {
					if err := emu.RemoveFromSegment(segment(old), ref); err != nil {
						t.Fatal(err)
					}
				}
				if err := emu.AddToSegment(segment(value), ref); err != nil {
					t.Fatal(err)
				}
				in[ref] = value
				return ref
			},
			Value:   segment,
			Advance: clk.Advance, Now: clk.Now, Whole: true, Many: 10_050, Fail: failing.Store,
		}
	}}
}

// suiteClient serves emu through handle, and a client of it at Pendo's
// default pace.
func suiteClient(t *testing.T, handle http.HandlerFunc) *api.Client {
	srv := httptest.NewServer(handle)
	t.Cleanup(srv.Close)
	c, err := api.New(api.Config{BaseURL: srv.URL, HTTPClient: srv.Client(), IntegrationKey: key, TrackSecret: "s",
		RetryBaseDelay: 5 * time.Millisecond, MaxRetries: 8, Now: loadtest.Present})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func suiteEmulator(env loadtest.Env) *pendotest.Server {
	opts := pendotest.Options{IntegrationKey: key, TrackSecret: "s", Faults: pendotest.Faults{ServerErrorRate: env.ServerErrors, Seed: 3}, Now: loadtest.Present}
	if env.Storm {
		opts.RequestsPerSecond = 1 // the client assumes 100
	}
	return pendotest.New(opts)
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// metadataTarget is visitor custom metadata: a is a string field that a
// handler in front of the emulator refuses one value of, as Pendo
// refuses a whole bulk request for one bad value; n a float field.
func metadataTarget() loadtest.Target {
	return loadtest.Target{Name: "pendo_visitors", OnRemove: []load.OnRemove{load.Clear}, CreateFields: true,
		New: func(t *testing.T, env loadtest.Env) *loadtest.Fixture {
			emu := suiteEmulator(env)
			emu.AddField("visitor", "custom", "stage", "string")
			emu.AddField("visitor", "custom", "score", "float")
			f := &loadtest.Fixture{Missing: "nobody", Good: []string{"lead", "customer", "evangelist"}, Bad: "NotAStage", NewField: "bf_usage_score",
				Spec: load.Spec{Name: "conf", File: "syncs/conf.yml", Model: "conf", Key: "k", Mode: load.Update, OnRemove: load.Ignore,
					Fields: []load.Field{{Column: "a", Field: "stage"}, {Column: "n", Field: "score"}}}}
			for i := range 4 {
				id := fmt.Sprintf("v%d", i)
				emu.PutVisitor(id, nil)
				f.Keys = append(f.Keys, id)
			}
			var calls atomic.Int64
			c := suiteClient(t, func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/value") {
					calls.Add(1)
					body, _ := io.ReadAll(r.Body)
					if bytes.Contains(body, []byte(`"NotAStage"`)) {
						http.Error(w, "Bad Request: stage: invalid value", http.StatusBadRequest)
						return
					}
					r.Body = io.NopCloser(bytes.NewReader(body))
				}
				emu.ServeHTTP(w, r)
			})
			f.Destination = func(load.Spec) load.Destination {
				return &metadata{client: c, kind: api.Visitor, group: "custom", size: 2}
			}
			f.Get = func(key string) (string, string, bool) {
				md, ok := emu.Visitor(key)
				if !ok {
					return "", "", false
				}
				return str(md["custom"]["stage"]), str(md["custom"]["score"]), true
			}
			f.Field = func(key, name string) string { md, _ := emu.Visitor(key); return str(md["custom"][name]) }
			f.Calls = calls.Load
			f.Limited = func() int { _, n := emu.Requests(); return n }
			return f
		}}
}

// trackTarget is track events of one visitor: a and n are properties; a
// property over 512 bytes is refused (Pendo would drop the event).
func trackTarget() loadtest.Target {
	return loadtest.Target{Name: "pendo_track_events", Events: true,
		New: func(t *testing.T, env loadtest.Env) *loadtest.Fixture {
			emu := suiteEmulator(env)
			var calls atomic.Int64
			c := suiteClient(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/data/track" {
					calls.Add(1)
				}
				emu.ServeHTTP(w, r)
			})
			f := &loadtest.Fixture{Keys: []string{"e0", "e1", "e2", "e3"}, Good: []string{"lead", "customer", "evangelist"}, Bad: strings.Repeat("x", 600),
				Extra: "k AS ref, 'Trial Milestone' AS name, 'v1' AS visitor, run_started_at() - INTERVAL 1 HOUR AS at",
				Spec: load.Spec{Name: "conf", File: "syncs/conf.yml", Model: "conf", Key: "k", Mode: load.Events, OnRemove: load.Ignore,
					Fields: []load.Field{{Column: "a", Field: "plan"}, {Column: "n", Field: "seats"}, {Column: "ref", Field: "ref"},
						{Column: "name", Field: "event"}, {Column: "visitor", Field: "visitorId"}, {Column: "at", Field: "timestamp"}}}}
			f.Destination = func(load.Spec) load.Destination { return &track{client: c, size: 2, now: loadtest.Present} }
			f.Get = func(key string) (string, string, bool) {
				for _, a := range emu.Tracked() {
					if str(a.Properties["ref"]) == key {
						return str(a.Properties["plan"]), str(a.Properties["seats"]), true
					}
				}
				return "", "", false
			}
			f.Calls = calls.Load
			f.Limited = func() int { _, n := emu.Requests(); return n }
			return f
		}}
}

// visitorsSource is the visitors stream, incremental by lastupdated.
func visitorsSource() extracttest.Source {
	return extracttest.Source{Name: "pendo_visitors", New: func(t *testing.T) *extracttest.Fixture {
		emu, clk, c, failing := sourceServer(t, "/api/v1/aggregation")
		emu.AddField("visitor", "custom", "plan", "string")
		lookback := 5 * time.Minute
		custom := map[string]map[string]any{}
		set := func(ref, field, value string) string {
			if custom[ref] == nil {
				custom[ref] = map[string]any{}
			}
			custom[ref][field] = value
			emu.PutVisitor(ref, map[string]map[string]any{"custom": custom[ref]})
			return ref
		}
		return &extracttest.Fixture{
			Source: &Source{Client: c, Tables: []string{"visitors"}, Incremental: true, MetadataLookback: lookback, PageSize: 20, Now: clk.Now},
			Stream: "pendo/visitors", Schema: "raw_pendo", Table: "visitors", KeyColumn: "visitor_id", ValueColumn: "custom__plan",
			Put:     func(ref, value string) string { return set(ref, "plan", value) },
			Advance: clk.Advance, Now: clk.Now, Lookback: lookback, Many: 50,
			AddColumn: func() string {
				if err := emu.AddField("visitor", "custom", "tier", "string"); err != nil {
					t.Fatal(err)
				}
				return "custom__tier"
			},
			Set:    func(ref, col, value string) { set(ref, strings.TrimPrefix(col, "custom__"), value) },
			Fail:   failing.Store,
			Probed: true,
		}
	}}
}
