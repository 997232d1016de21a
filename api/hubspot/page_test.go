package hubspot_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/api/hubspot"
)

// reference is what encoding/json makes of a page, the reading the
// streaming decoder must agree with.
type reference struct {
	Results []struct {
		ID         string             `json:"id"`
		Properties map[string]*string `json:"properties"`
		CreatedAt  time.Time          `json:"createdAt"`
		UpdatedAt  time.Time          `json:"updatedAt"`
		Archived   bool               `json:"archived"`
	} `json:"results"`
}

// TestPageAgreesWithEncodingJSON serves answers as they are and compares
// the pages read with encoding/json's reading of the same bytes.
func TestPageAgreesWithEncodingJSON(t *testing.T) {
	tests := []struct {
		name, body string
		wantErr    string
	}{
		{name: "plain", body: `{"results":[{"id":"1","properties":{"email":"a@x.io","firstname":"Ada"},"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-02T00:00:00.123Z","archived":false}]}`},
		{name: "escapes and unicode", body: `{"results":[{"id":"1","properties":{"firstname":"A\"d\\a\u00e9\ud83d\ude00","email":"\u0061@x.io"}}]}`},
		{name: "null and missing", body: `{"results":[{"id":"1","properties":{"email":null}},{"id":"2","properties":{}},{"id":"3"}]}`},
		{name: "repeated key keeps the last", body: `{"results":[{"id":"1","properties":{"email":"first","email":"last"}}]}`},
		{name: "properties not asked for", body: `{"results":[{"id":"1","properties":{"hs_object_id":"1","createdate":"2026-01-01T00:00:00Z","email":"a"}}]}`},
		{name: "whitespace everywhere", body: " {\n \"results\" : [ { \"id\" : \"1\" , \"properties\" : { \"email\" : \"a\" } } ] , \"paging\" : null }\n"},
		{name: "other members ignored", body: `{"results":[{"id":"1","properties":{"email":"a"},"propertiesWithHistory":{"email":[{"value":"x"}]},"archivedAt":null}],"extra":{"a":[1,2]}}`},
		{name: "archived null", body: `{"results":[{"id":"1","archived":null,"properties":{"email":"a"}}]}`},
		{name: "property is a number", body: `{"results":[{"id":"1","properties":{"email":5}}]}`, wantErr: "property email is number, not a string"},
		{name: "id is a number", body: `{"results":[{"id":1,"properties":{}}]}`, wantErr: "id is number"},
		{name: "bad time", body: `{"results":[{"id":"1","createdAt":"yesterday"}]}`, wantErr: "is not a time"},
		{name: "results null", body: `{"results":null}`, wantErr: "no results array"},
		{name: "no results", body: `{"paging":{"next":{"after":"2"}}}`, wantErr: "no results array"},
		{name: "cut short", body: `{"results":[{"id":"1","properties":{"email":"a"`, wantErr: "unexpected EOF"},
		{name: "two answers", body: `{"results":[]} {"results":[]}`, wantErr: "after the answer"},
		{name: "not JSON", body: `<html>gateway</html>`, wantErr: "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c, err := hubspot.New(hubspot.Config{BaseURL: srv.URL, Token: "t", HTTPClient: srv.Client(), MaxRetries: -1})
			if err != nil {
				t.Fatal(err)
			}
			objs, _, err := c.ListPage(context.Background(), "contacts", hubspot.ListOptions{Properties: []string{"email", "firstname"}}, "")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ref reference
			if err := json.Unmarshal([]byte(tt.body), &ref); err != nil {
				t.Fatal(err)
			}
			if len(objs) != len(ref.Results) {
				t.Fatalf("%d records, encoding/json %d", len(objs), len(ref.Results))
			}
			for i, want := range ref.Results {
				got := objs[i]
				if want.Properties == nil {
					want.Properties = map[string]*string{}
				}
				if got.ID != want.ID || !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) || got.Archived != want.Archived {
					t.Errorf("record %d: got %+v, want %+v", i, got, want)
				}
				if !reflect.DeepEqual(got.Properties, want.Properties) {
					t.Errorf("record %d properties: got %v, want %v", i, show(got.Properties), show(want.Properties))
				}
			}
		})
	}
}

func show(m map[string]*string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if v == nil {
			out[k] = "<nil>"
		} else {
			out[k] = *v
		}
	}
	return out
}

// TestPageNumbersProperties: properties asked for keep their numbers,
// whatever order the answer lists them in, and the others follow.
func TestPageNumbersProperties(t *testing.T) {
	body := `{"results":[{"id":"1","properties":{"b":"1","x":"2","a":"3"}},{"id":"2","properties":{"a":"4","b":null}}]}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
	defer srv.Close()
	c, err := hubspot.New(hubspot.Config{BaseURL: srv.URL, Token: "t", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = c.ListPages(context.Background(), "contacts", hubspot.ListOptions{Properties: []string{"a", "b"}}, func(p *hubspot.Page) error {
		if names := strings.Join(p.Properties(), ","); names != "a,b,x" {
			t.Errorf("properties %s, want a,b,x", names)
		}
		for i := range p.Len() {
			p.Values(i, func(k int, text []byte, null bool) {
				if null {
					got = append(got, p.ID(i)+":"+p.Properties()[k]+"=null")
				} else {
					got = append(got, p.ID(i)+":"+p.Properties()[k]+"="+string(text))
				}
			})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.Join(got, " "); s != "1:b=1 1:x=2 1:a=3 2:a=4 2:b=null" {
		t.Errorf("values %s", s)
	}
}
