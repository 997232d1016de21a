package hubspot_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
)

// TestReadByIDPages reads live records, then the archived ones among the
// missing, and names the ids gone for good; an answer with an id not
// asked for, or one leaving an id unanswered, is refused.
func TestReadByIDPages(t *testing.T) {
	ctx := context.Background()
	emu := hubspottest.New(hubspottest.Options{Tokens: []string{token}, BurstLimit: 100_000})
	var ids []string
	for _, e := range []string{"a@x.com", "b@x.com", "c@x.com"} {
		id, err := emu.CreateObject("contacts", map[string]string{"email": e})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := emu.ArchiveObject("contacts", ids[2]); err != nil {
		t.Fatal(err)
	}
	var rewrite func(string) string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rewrite == nil {
			emu.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		emu.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write([]byte(rewrite(rec.Body.String())))
	}))
	defer srv.Close()
	c, err := hubspot.New(hubspot.Config{BaseURL: srv.URL, HTTPClient: srv.Client(), Token: token, BurstLimit: 100_000, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	read := func() ([]string, error) {
		got = nil
		return c.ReadByIDPages(ctx, "contacts", append(slices.Clone(ids), "999999"), []string{"email"}, func(p *hubspot.Page) error {
			for i := range p.Len() {
				got = append(got, p.ID(i)+":"+map[bool]string{true: "archived", false: "live"}[p.Archived(i)])
			}
			return nil
		})
	}
	gone, err := read()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got) // HubSpot keeps no order in a batch answer
	if want := []string{ids[0] + ":live", ids[1] + ":live", ids[2] + ":archived"}; !slices.Equal(got, want) || !slices.Equal(gone, []string{"999999"}) {
		t.Fatalf("read %v, gone %v; want %v and [999999]", got, gone, want)
	}
	for _, tt := range []struct {
		name    string
		rewrite func(string) string
	}{
		{"an_id_not_asked_for", func(b string) string { return strings.Replace(b, `"id":"`+ids[0]+`"`, `"id":"424242"`, 1) }},
		{"an_id_unanswered", func(b string) string { return strings.Replace(b, `"999999"`, `"1"`, 1) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rewrite = tt.rewrite
			defer func() { rewrite = nil }()
			if _, err := read(); !errors.Is(err, hubspot.ErrBadPage) {
				t.Fatalf("read = %v, want ErrBadPage", err)
			}
		})
	}
}
