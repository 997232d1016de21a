package hubspottest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
)

const tok = "pat-na1-t"

type call struct {
	method, path, body string
}

func do(t *testing.T, srv *httptest.Server, c call) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, resp.Header, body
}

func newServer(t *testing.T, opts hubspottest.Options) (*hubspottest.Server, *httptest.Server) {
	t.Helper()
	opts.Tokens = []string{tok}
	if opts.BurstLimit == 0 {
		opts.BurstLimit = 10_000
	}
	emu := hubspottest.New(opts)
	emu.AddProperty("contacts", hubspottest.Property{Name: "trial_end", Label: "Trial end", Type: "date", FieldType: "date", GroupName: "contactinformation"})
	emu.AddProperty("contacts", hubspottest.Property{Name: "interests", Label: "Interests", Type: "enumeration", FieldType: "checkbox", GroupName: "contactinformation",
		Options: []hubspottest.Option{{Label: "A", Value: "a"}, {Label: "B", Value: "b"}, {Label: "C", Value: "c"}}})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv
}

func TestWriteValidation(t *testing.T) {
	emu, srv := newServer(t, hubspottest.Options{})
	id, _ := emu.CreateObject("contacts", map[string]string{"email": "v@example.com", "interests": "a"})
	tests := []struct {
		name  string
		props map[string]string
		code  string // "" for success
	}{
		{"unknown_property", map[string]string{"favourite_colour": "blue"}, "PROPERTY_DOESNT_EXIST"},
		{"read_only", map[string]string{"createdate": "2026-01-01"}, "READ_ONLY_VALUE"},
		{"enumeration_label_not_value", map[string]string{"lifecyclestage": "Customer"}, "INVALID_OPTION"},
		{"number", map[string]string{"hubspotscore": "12abc"}, "INVALID_INTEGER"},
		{"date_not_midnight", map[string]string{"trial_end": "1767225600001"}, "INVALID_DATE"},
		{"date_midnight_ms", map[string]string{"trial_end": "1767225600000"}, ""},
		{"date_iso_day", map[string]string{"trial_end": "2026-01-01"}, ""},
		{"string_too_long", map[string]string{"jobtitle": strings.Repeat("x", 65537)}, "INVALID_LENGTH"},
		{"string_at_limit", map[string]string{"jobtitle": strings.Repeat("x", 65536)}, ""},
		{"bad_email", map[string]string{"email": "not an email"}, "INVALID_EMAIL"},
		{"clear_with_empty", map[string]string{"jobtitle": ""}, ""},
		{"checkbox_unknown_option", map[string]string{"interests": "a;z"}, "INVALID_OPTION"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"properties": tt.props})
			status, _, resp := do(t, srv, call{"PATCH", "/crm/v3/objects/contacts/" + id, string(body)})
			if tt.code == "" {
				if status != 200 {
					t.Fatalf("status %d: %v", status, resp)
				}
				return
			}
			if status != 400 || resp["category"] != "VALIDATION_ERROR" || !strings.Contains(fmt.Sprint(resp["message"]), tt.code) {
				t.Fatalf("status %d body %v, want 400 naming %s", status, resp, tt.code)
			}
		})
	}
}

func TestCheckboxAppend(t *testing.T) {
	emu, srv := newServer(t, hubspottest.Options{})
	id, _ := emu.CreateObject("contacts", map[string]string{"interests": "a"})
	for _, step := range []struct{ value, want string }{
		{";b", "a;b"},     // a leading ; appends
		{";b;c", "a;b;c"}, // without duplicates
		{"c", "c"},        // no leading ; replaces
	} {
		do(t, srv, call{"PATCH", "/crm/v3/objects/contacts/" + id, `{"properties":{"interests":"` + step.value + `"}}`})
		if o, _ := emu.Object("contacts", id); o.Properties["interests"] != step.want {
			t.Fatalf("after %q: %q, want %q", step.value, o.Properties["interests"], step.want)
		}
	}
}

// TestLifecycleStageForwardOnly: through the API a lifecycle stage only
// moves forward; an earlier one is ignored with a 200, unless the stage is
// cleared first. A user in the UI (UpdateObject) can move it back.
func TestLifecycleStageForwardOnly(t *testing.T) {
	emu, srv := newServer(t, hubspottest.Options{})
	id, _ := emu.CreateObject("contacts", map[string]string{"email": "a@x.com", "lifecyclestage": "lead"})
	stage := func() string { o, _ := emu.Object("contacts", id); return o.Properties["lifecyclestage"] }
	for _, step := range []struct {
		name, call, want string
	}{
		{"forward", `{"properties":{"lifecyclestage":"opportunity"}}`, "opportunity"},
		{"back is ignored", `{"properties":{"lifecyclestage":"lead","jobtitle":"CTO"}}`, "opportunity"},
		{"cleared", `{"properties":{"lifecyclestage":""}}`, ""},
		{"then back", `{"properties":{"lifecyclestage":"lead"}}`, "lead"},
	} {
		code, _, _ := do(t, srv, call{"PATCH", "/crm/v3/objects/contacts/" + id, step.call})
		if code != http.StatusOK || stage() != step.want {
			t.Fatalf("%s: %d, stage %q, want 200 and %q", step.name, code, stage(), step.want)
		}
	}
	if o, _ := emu.Object("contacts", id); o.Properties["jobtitle"] != "CTO" {
		t.Errorf("the other properties of a call with an earlier stage were dropped too")
	}
	batch := `{"inputs":[{"id":"` + id + `","properties":{"lifecyclestage":"subscriber"}}]}`
	if code, _, _ := do(t, srv, call{"POST", "/crm/v3/objects/contacts/batch/update", batch}); code != http.StatusOK || stage() != "lead" {
		t.Fatalf("batch update to an earlier stage: %d, stage %q, want 200 and lead", code, stage())
	}
	if err := emu.UpdateObject("contacts", id, map[string]string{"lifecyclestage": "subscriber"}); err != nil || stage() != "subscriber" {
		t.Fatalf("a user moving the stage back: %v, %q", err, stage())
	}
}

func TestBatchLimits(t *testing.T) {
	_, srv := newServer(t, hubspottest.Options{})
	var inputs []string
	for i := 0; i < 101; i++ {
		inputs = append(inputs, `{"properties":{"firstname":"x"}}`)
	}
	status, _, body := do(t, srv, call{"POST", "/crm/v3/objects/contacts/batch/create", `{"inputs":[` + strings.Join(inputs, ",") + `]}`})
	if status != 400 || body["category"] != "VALIDATION_ERROR" {
		t.Fatalf("101 inputs: %d %v", status, body)
	}
	status, _, body = do(t, srv, call{"POST", "/crm/v3/objects/contacts/batch/update", `{"inputs":[{"id":"1","properties":{}},{"id":"1","properties":{}}]}`})
	if status != 400 || !strings.Contains(fmt.Sprint(body["message"]), "Duplicate IDs") {
		t.Fatalf("duplicate ids: %d %v", status, body)
	}
	status, _, body = do(t, srv, call{"POST", "/crm/v3/objects/contacts/batch/upsert", `{"inputs":[{"id":"5","idProperty":"hs_object_id","properties":{}}]}`})
	if status != 400 {
		t.Fatalf("hs_object_id upsert: %d %v", status, body)
	}
	// A whole-batch 400 when a failing input carries no objectWriteTraceId.
	status, _, body = do(t, srv, call{"POST", "/crm/v3/objects/contacts/batch/create", `{"inputs":[{"properties":{"firstname":"ok"}},{"properties":{"hubspotscore":"x"}}]}`})
	if status != 400 {
		t.Fatalf("bad input without trace id: %d %v", status, body)
	}
	// With trace ids: 207 naming the failed input.
	status, _, body = do(t, srv, call{"POST", "/crm/v3/objects/contacts/batch/create", `{"inputs":[{"properties":{"firstname":"ok"},"objectWriteTraceId":"t1"},{"properties":{"hubspotscore":"x"},"objectWriteTraceId":"t2"}]}`})
	errs, _ := body["errors"].([]any)
	if status != 207 || body["numErrors"] != 1.0 || len(errs) != 1 || !strings.Contains(fmt.Sprint(errs[0]), "t2") {
		t.Fatalf("bad input with trace id: %d %v", status, body)
	}
}

func TestSearch_LagLimitAndHeaders(t *testing.T) {
	emu, srv := newServer(t, hubspottest.Options{SearchLag: time.Hour, SearchPerSecond: 2})
	emu.CreateObject("contacts", map[string]string{"email": "fresh@example.com"})
	status, h, body := do(t, srv, call{"POST", "/crm/v3/objects/contacts/search", `{"filterGroups":[]}`})
	if status != 200 || body["total"] != 0.0 {
		t.Fatalf("a record written moments ago was found: %d %v", status, body)
	}
	for k := range h {
		if strings.HasPrefix(strings.ToLower(k), "x-hubspot-ratelimit") {
			t.Errorf("search response carries %s; HubSpot sends none on search", k)
		}
	}
	do(t, srv, call{"POST", "/crm/v3/objects/contacts/search", `{}`})
	status, _, body = do(t, srv, call{"POST", "/crm/v3/objects/contacts/search", `{}`})
	if status != 429 || body["policyName"] != "SECONDLY" {
		t.Fatalf("third search in a second: %d %v", status, body)
	}
}

func TestSearch_FilterGroupLimits(t *testing.T) {
	_, srv := newServer(t, hubspottest.Options{SearchPerSecond: 1000})
	groups := func(n, per int) string {
		var gs []string
		for i := 0; i < n; i++ {
			var fs []string
			for j := 0; j < per; j++ {
				fs = append(fs, `{"propertyName":"email","operator":"HAS_PROPERTY"}`)
			}
			gs = append(gs, `{"filters":[`+strings.Join(fs, ",")+`]}`)
		}
		return `{"filterGroups":[` + strings.Join(gs, ",") + `]}`
	}
	for _, tt := range []struct {
		name       string
		body       string
		wantStatus int
	}{
		{"5x3_ok", groups(5, 3), 200},
		{"6_groups", groups(6, 1), 400},
		{"7_in_a_group", groups(1, 7), 400},
		{"19_in_all", groups(4, 5), 400},
		{"after_past_cap", `{"after":"10000"}`, 400},
		{"limit_201", `{"limit":201}`, 400},
		{"unknown_operator", `{"filterGroups":[{"filters":[{"propertyName":"email","operator":"LIKE","value":"x"}]}]}`, 400},
		{"unknown_property", `{"filterGroups":[{"filters":[{"propertyName":"nope","operator":"EQ","value":"x"}]}]}`, 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if status, _, body := do(t, srv, call{"POST", "/crm/v3/objects/contacts/search", tt.body}); status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %v", status, tt.wantStatus, body)
			}
		})
	}
}

func TestRoutingAndVersions(t *testing.T) {
	emu, srv := newServer(t, hubspottest.Options{})
	typeID, _ := emu.DefineObject("pet", "Pet", "Pets", "pet_name", []hubspottest.Property{{Name: "pet_name", Label: "Name", Type: "string", FieldType: "text"}})
	for _, path := range []string{"/crm/v3/objects/contacts", "/crm/v3/objects/0-1", "/crm/objects/2026-03/contacts", "/crm/v3/objects/" + typeID,
		"/crm/v3/objects/p4242_pet", "/crm/v3/objects/pet"} {
		if status, _, body := do(t, srv, call{"GET", path, ""}); status != 200 {
			t.Errorf("GET %s: %d %v", path, status, body)
		}
	}
	if status, _, _ := do(t, srv, call{"GET", "/crm/objects/v9/contacts", ""}); status != 404 {
		t.Errorf("unknown version answered %d", status)
	}
	if status, _, _ := do(t, srv, call{"GET", "/crm/v3/objects/contacts?properties=" + strings.Repeat("x", 17000), ""}); status != 414 {
		t.Errorf("long URL answered %d, want 414", status)
	}
	if status, _, body := do(t, srv, call{"POST", "/crm/v3/objects/pet", `{"properties":{}}`}); status != 400 || !strings.Contains(fmt.Sprint(body["message"]), "pet_name") {
		t.Errorf("custom object without its required property: %d %v", status, body)
	}
}

func TestRateLimitHeaders(t *testing.T) {
	_, srv := newServer(t, hubspottest.Options{BurstLimit: 3, DailyLimit: 1000})
	for i := 1; i <= 4; i++ {
		status, h, body := do(t, srv, call{"GET", "/crm/v3/objects/contacts", ""})
		if i <= 3 {
			if status != 200 || h.Get("X-HubSpot-RateLimit-Remaining") != fmt.Sprint(3-i) || h.Get("X-HubSpot-RateLimit-Max") != "3" ||
				h.Get("X-HubSpot-RateLimit-Interval-Milliseconds") != "10000" || h.Get("X-HubSpot-RateLimit-Daily-Remaining") != fmt.Sprint(1000-i) {
				t.Fatalf("call %d: %d %v", i, status, h)
			}
			continue
		}
		if status != 429 || body["policyName"] != "TEN_SECONDLY_ROLLING" || body["errorType"] != "RATE_LIMIT" || body["correlationId"] == "" {
			t.Fatalf("call 4: %d %v", status, body)
		}
	}
}

// TestSearch_LagAnswersOldValues: within SearchLag of a write, search
// answers with the record as it was before it (old values, not yet
// created, not yet archived), as HubSpot's lagging index does; once the
// lag has passed, with the record as it is.
func TestSearch_LagAnswersOldValues(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	emu, srv := newServer(t, hubspottest.Options{SearchLag: 5 * time.Second, Now: func() time.Time { return now }})
	id, _ := emu.CreateObject("contacts", map[string]string{"email": "a@example.com", "firstname": "Old"})
	gone, _ := emu.CreateObject("contacts", map[string]string{"email": "gone@example.com", "firstname": "Gone"})
	now = now.Add(10 * time.Second)
	emu.UpdateObject("contacts", id, map[string]string{"firstname": "New"})
	emu.CreateObject("contacts", map[string]string{"email": "fresh@example.com", "firstname": "Fresh"})
	if status, _, _ := do(t, srv, call{"DELETE", "/crm/v3/objects/contacts/" + gone, ""}); status != 204 {
		t.Fatalf("archive: %d", status)
	}
	search := func() map[string]string {
		t.Helper()
		status, _, body := do(t, srv, call{"POST", "/crm/v3/objects/contacts/search", `{"filterGroups":[],"properties":["firstname"]}`})
		if status != 200 {
			t.Fatalf("search: %d %v", status, body)
		}
		out := map[string]string{}
		for _, r := range body["results"].([]any) {
			props := r.(map[string]any)["properties"].(map[string]any)
			out[r.(map[string]any)["id"].(string)] = fmt.Sprint(props["firstname"])
		}
		return out
	}
	if got := search(); len(got) != 2 || got[id] != "Old" || got[gone] != "Gone" {
		t.Fatalf("within the lag: %v, want the old value, the archived record still there, the new one absent", got)
	}
	now = now.Add(6 * time.Second)
	if got := search(); len(got) != 2 || got[id] != "New" || got[gone] != "" {
		t.Fatalf("after the lag: %v, want the new value and record, the archived one gone", got)
	}
}

// TestWrites_ReadBackNormalised: values are answered as HubSpot stores
// them, not as they were sent: a date sent as epoch ms of midnight UTC
// reads back as YYYY-MM-DD, a datetime sent as epoch ms as ISO 8601 with
// milliseconds, a contact's email lower-cased.
func TestWrites_ReadBackNormalised(t *testing.T) {
	emu, srv := newServer(t, hubspottest.Options{})
	emu.AddProperty("contacts", hubspottest.Property{Name: "last_seen", Label: "Last seen", Type: "datetime", FieldType: "date", GroupName: "contactinformation"})
	status, _, body := do(t, srv, call{"POST", "/crm/v3/objects/contacts", `{"properties":{"email":"Ada.Lovelace@Example.COM","trial_end":"1767225600000","last_seen":"1767225600123"}}`})
	if status != 201 {
		t.Fatalf("create: %d %v", status, body)
	}
	id := body["id"].(string)
	status, _, body = do(t, srv, call{"GET", "/crm/v3/objects/contacts/" + id + "?properties=email,trial_end,last_seen", ""})
	props, _ := body["properties"].(map[string]any)
	want := map[string]string{"email": "ada.lovelace@example.com", "trial_end": "2026-01-01", "last_seen": "2026-01-01T00:00:00.123Z"}
	for k, v := range want {
		if status != 200 || props[k] != v {
			t.Errorf("%s reads back %v, want %s (status %d)", k, props[k], v, status)
		}
	}
	// The email finds the record whatever its case.
	if status, _, _ := do(t, srv, call{"GET", "/crm/v3/objects/contacts/ADA.lovelace@example.com?idProperty=email", ""}); status != 200 {
		t.Errorf("read by email in another case: %d", status)
	}
}

// TestArchived_Consistent: an archived contact is gone for every write and
// default read, and its email is free again: a create with it makes a new
// contact, an upsert by it creates instead of writing into the archived
// one, search and list do not show it, and a read with archived=true
// still finds it.
func TestArchived_Consistent(t *testing.T) {
	emu, srv := newServer(t, hubspottest.Options{SearchLag: -1}) // not a lag test: searches at once
	old, _ := emu.CreateObject("contacts", map[string]string{"email": "gone@example.com", "firstname": "Old"})
	if err := emu.ArchiveObject("contacts", old); err != nil {
		t.Fatal(err)
	}
	status, _, body := do(t, srv, call{"POST", "/crm/v3/objects/contacts", `{"properties":{"email":"GONE@example.com","firstname":"New"}}`})
	if status != 201 {
		t.Fatalf("create with an archived contact's email: %d %v", status, body)
	}
	fresh := body["id"].(string)
	status, _, body = do(t, srv, call{"POST", "/crm/v3/objects/contacts/batch/upsert", `{"inputs":[{"id":"other@example.com","idProperty":"email","properties":{"firstname":"Up"}}]}`})
	if status != 200 {
		t.Fatalf("upsert: %d %v", status, body)
	}
	other, _ := emu.CreateObject("contacts", map[string]string{"email": "other2@example.com"})
	emu.ArchiveObject("contacts", other)
	status, _, body = do(t, srv, call{"POST", "/crm/v3/objects/contacts/batch/upsert", `{"inputs":[{"id":"other2@example.com","idProperty":"email","properties":{"firstname":"Back"}}]}`})
	results, _ := body["results"].([]any)
	if status != 200 || len(results) != 1 || results[0].(map[string]any)["new"] != true || results[0].(map[string]any)["id"] == other {
		t.Fatalf("upsert by an archived contact's email: %d %v, want a new record", status, body)
	}
	if o, _ := emu.Object("contacts", other); o.Properties["firstname"] != "" {
		t.Fatalf("the upsert wrote into the archived contact: %v", o.Properties)
	}
	if status, _, _ := do(t, srv, call{"GET", "/crm/v3/objects/contacts/gone@example.com?idProperty=email", ""}); status != 200 {
		t.Errorf("read by email: %d, want the live contact", status)
	}
	_, _, body = do(t, srv, call{"GET", "/crm/v3/objects/contacts/gone@example.com?idProperty=email", ""})
	if body["id"] != fresh {
		t.Errorf("read by email found %v, want the new contact %s", body["id"], fresh)
	}
	if status, _, _ := do(t, srv, call{"GET", "/crm/v3/objects/contacts/" + old + "?archived=true", ""}); status != 200 {
		t.Errorf("read of the archived contact with archived=true: %d", status)
	}
	_, _, body = do(t, srv, call{"POST", "/crm/v3/objects/contacts/search", `{"filterGroups":[{"filters":[{"propertyName":"email","operator":"EQ","value":"gone@example.com"}]}]}`})
	if body["total"] != 1.0 {
		t.Errorf("search by the email: %v, want only the live contact", body)
	}
}

// TestFaults_RateLimitStorm: a 429 storm answers at every policy, with
// HubSpot's body, and the rolling window's headers on TEN_SECONDLY_ROLLING.
func TestFaults_RateLimitStorm(t *testing.T) {
	emu, srv := newServer(t, hubspottest.Options{Window: time.Second, Faults: hubspottest.Faults{RateLimitRate: 1, Seed: 7}})
	seen := map[string]int{}
	for range 200 {
		status, h, body := do(t, srv, call{"GET", "/crm/v3/objects/contacts", ""})
		policy, _ := body["policyName"].(string)
		if status != 429 || body["errorType"] != "RATE_LIMIT" {
			t.Fatalf("%d %v", status, body)
		}
		if policy == "TEN_SECONDLY_ROLLING" && (h.Get("X-HubSpot-RateLimit-Interval-Milliseconds") != "1000" || h.Get("X-HubSpot-RateLimit-Remaining") != "0") {
			t.Fatalf("TEN_SECONDLY_ROLLING without the window's headers: %v", h)
		}
		seen[policy]++
	}
	for _, p := range []string{"TEN_SECONDLY_ROLLING", "SECONDLY", "DAILY"} {
		if seen[p] == 0 {
			t.Errorf("no %s in 200 answers: %v", p, seen)
		}
	}
	if seen["TEN_SECONDLY_ROLLING"] < seen["SECONDLY"] || seen["SECONDLY"] < seen["DAILY"] {
		t.Errorf("policy shares %v, want 6:3:1", seen)
	}
	if emu.Faulted() != 200 {
		t.Errorf("Faulted = %d, want 200", emu.Faulted())
	}
}

// TestDisassociate_PrimaryMoves: removing a contact's primary company
// leaves it with none, modifies the contact, and the next company
// associated becomes primary and modifies it again; removing another
// association modifies nothing.
func TestDisassociate_PrimaryMoves(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	emu, srv := newServer(t, hubspottest.Options{Now: func() time.Time { return now }})
	contact, _ := emu.CreateObject("contacts", map[string]string{"email": "m@example.com"})
	var companies []string
	for _, name := range []string{"A", "B", "C"} {
		id, _ := emu.CreateObject("companies", map[string]string{"name": name})
		companies = append(companies, id)
		if err := emu.Associate("contacts", contact, "companies", id); err != nil {
			t.Fatal(err)
		}
	}
	labels := func() map[string][]any {
		t.Helper()
		status, _, body := do(t, srv, call{"POST", "/crm/v4/associations/contacts/companies/batch/read", `{"inputs":[{"id":"` + contact + `"}]}`})
		if status != 200 && status != 207 {
			t.Fatalf("read: %d %v", status, body)
		}
		out := map[string][]any{}
		for _, r := range body["results"].([]any) {
			for _, to := range r.(map[string]any)["to"].([]any) {
				m := to.(map[string]any)
				for _, ty := range m["associationTypes"].([]any) {
					out[fmt.Sprint(m["toObjectId"])] = append(out[fmt.Sprint(m["toObjectId"])], ty.(map[string]any)["label"])
				}
			}
		}
		return out
	}
	modified := func() string { o, _ := emu.Object("contacts", contact); return o.Properties["lastmodifieddate"] }
	if got := labels(); len(got[companies[0]]) != 2 || len(got[companies[1]]) != 1 {
		t.Fatalf("before: %v, want the first company primary", got)
	}
	before := modified()
	now = now.Add(time.Hour)
	if err := emu.Disassociate("contacts", contact, "companies", companies[1]); err != nil {
		t.Fatal(err)
	}
	if got := labels(); len(got) != 2 || got[companies[1]] != nil || modified() != before {
		t.Fatalf("after removing a non-primary company: %v, modified %s (was %s)", got, modified(), before)
	}
	if err := emu.Disassociate("companies", companies[0], "contacts", contact); err != nil {
		t.Fatal(err)
	}
	if got := labels(); len(got) != 1 || len(got[companies[2]]) != 1 || modified() == before {
		t.Fatalf("after removing the primary company: %v, modified %s: want no primary and the contact modified", got, modified())
	}
	if err := emu.Disassociate("contacts", contact, "companies", companies[0]); err == nil {
		t.Error("removing a pair that is not associated: no error")
	}
	before = modified()
	now = now.Add(time.Hour)
	if err := emu.Associate("contacts", contact, "companies", companies[1]); err != nil {
		t.Fatal(err)
	}
	if got := labels(); len(got[companies[1]]) != 2 || modified() == before {
		t.Fatalf("after associating again: %v, modified %s: want the new company primary and the contact modified", got, modified())
	}
}

// TestListings_Paged: event definitions and owners page as the real
// endpoints do: a default page (10 definitions: the spec gives none, so
// the stricter small one; 100 owners), limit bounds refused with 400, and
// an after cursor that walks every item exactly once.
func TestListings_Paged(t *testing.T) {
	emu, srv := newServer(t, hubspottest.Options{})
	for i := range 23 {
		emu.DefineEvent(fmt.Sprintf("ev_%02d", i), "Event", "CONTACT", nil)
	}
	for i := range 120 {
		emu.AddOwner(fmt.Sprintf("o%d@example.com", i), "O", fmt.Sprint(i))
	}
	walk := func(path string, want, firstPage int) {
		t.Helper()
		seen, after, pages := map[string]bool{}, "", 0
		for {
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			url := path
			if after != "" {
				url += sep + "after=" + after
			}
			status, _, body := do(t, srv, call{"GET", url, ""})
			if status != 200 {
				t.Fatalf("%s: %d %v", url, status, body)
			}
			results := body["results"].([]any)
			if pages == 0 && len(results) != firstPage {
				t.Errorf("%s: first page %d, want %d", path, len(results), firstPage)
			}
			pages++
			for _, r := range results {
				id := fmt.Sprint(r.(map[string]any)["id"])
				if seen[id] {
					t.Fatalf("%s: %s twice", path, id)
				}
				seen[id] = true
			}
			next, _ := body["paging"].(map[string]any)
			if next == nil {
				break
			}
			after = next["next"].(map[string]any)["after"].(string)
		}
		if len(seen) != want {
			t.Errorf("%s: %d items in %d pages, want %d", path, len(seen), pages, want)
		}
	}
	walk("/events/v3/event-definitions", 23, 10)
	walk("/events/v3/event-definitions?limit=100", 23, 23)
	walk("/crm/v3/owners", 120, 100)
	for _, bad := range []string{"/events/v3/event-definitions?limit=101", "/events/v3/event-definitions?limit=0", "/crm/v3/owners?limit=501", "/events/v3/event-definitions?after=x"} {
		if status, _, _ := do(t, srv, call{"GET", bad, ""}); status != 400 {
			t.Errorf("%s: %d, want 400", bad, status)
		}
	}
}

// TestLists: Lists v3 as the reference has it, strict where it is
// unconfirmed: create answers 200 (a taken name 409, a non-MANUAL list
// without filters 400); adds and removes take a bare array of ids, say
// which ids are missing and spell recordsIdsAdded as the spec does; a
// DYNAMIC list refuses writes; a call takes at most 1,000 ids; members
// page by 250; writes need crm.lists.read and crm.lists.write.
func TestLists(t *testing.T) {
	emu, srv := newServer(t, hubspottest.Options{})
	var ids []string
	for i := range 300 {
		id, _ := emu.CreateObject("contacts", map[string]string{"email": fmt.Sprintf("l%d@example.com", i)})
		ids = append(ids, id)
	}
	status, _, body := do(t, srv, call{"POST", "/crm/v3/lists", `{"name":"PQLs","objectTypeId":"0-1","processingType":"MANUAL"}`})
	list, _ := body["list"].(map[string]any)
	if status != 200 || list["listId"] == "" || list["processingType"] != "MANUAL" {
		t.Fatalf("create: %d %v", status, body)
	}
	listID := list["listId"].(string)
	for _, tt := range []struct{ name, body string }{
		{"taken name, other case", `{"name":"pqls","objectTypeId":"0-1","processingType":"MANUAL"}`},
		{"dynamic without filters", `{"name":"D","objectTypeId":"0-1","processingType":"DYNAMIC"}`},
		{"unknown object type", `{"name":"X","objectTypeId":"0-999","processingType":"MANUAL"}`},
	} {
		if status, _, body := do(t, srv, call{"POST", "/crm/v3/lists", tt.body}); status != 409 && status != 400 {
			t.Errorf("%s: %d %v", tt.name, status, body)
		}
	}
	add := `["` + strings.Join(ids, `","`) + `", "999999"]`
	status, _, body = do(t, srv, call{"PUT", "/crm/v3/lists/" + listID + "/memberships/add", add})
	if added, _ := body["recordsIdsAdded"].([]any); status != 200 || len(added) != 300 || fmt.Sprint(body["recordIdsMissing"]) != "[999999]" {
		t.Fatalf("add: %d, %d added, missing %v", status, len(added), body["recordIdsMissing"])
	}
	if _, _, body := do(t, srv, call{"PUT", "/crm/v3/lists/" + listID + "/memberships/add", `[` + ids[0] + `]`}); len(body["recordsIdsAdded"].([]any)) != 0 {
		t.Errorf("adding a member again: %v, want nothing added", body)
	}
	many := make([]string, 1001)
	for i := range many {
		many[i] = `"1"`
	}
	if status, _, _ := do(t, srv, call{"PUT", "/crm/v3/lists/" + listID + "/memberships/add", "[" + strings.Join(many, ",") + "]"}); status != 400 {
		t.Errorf("1,001 ids: %d, want 400", status)
	}
	status, _, body = do(t, srv, call{"PUT", "/crm/v3/lists/" + listID + "/memberships/remove", `["` + ids[0] + `","` + ids[1] + `"]`})
	if status != 200 || len(body["recordIdsRemoved"].([]any)) != 2 {
		t.Fatalf("remove: %d %v", status, body)
	}
	// Members page by at most 250, by id.
	seen := 0
	after := ""
	for pages := 0; ; pages++ {
		status, _, body = do(t, srv, call{"GET", "/crm/v3/lists/" + listID + "/memberships?limit=250&after=" + after, ""})
		if status != 200 || pages > 3 {
			t.Fatalf("members: %d %v", status, body)
		}
		seen += len(body["results"].([]any))
		p, _ := body["paging"].(map[string]any)
		if p == nil {
			break
		}
		after = p["next"].(map[string]any)["after"].(string)
	}
	if seen != 298 {
		t.Errorf("%d members read, want 298", seen)
	}
	if status, _, _ := do(t, srv, call{"GET", "/crm/v3/lists/" + listID + "/memberships?limit=251", ""}); status != 400 {
		t.Errorf("limit 251: %d, want 400", status)
	}
	// A DYNAMIC list: members from its filter, writes refused.
	dyn, err := emu.AddDynamicList("Even", "contacts", func(o hubspottest.Object) bool { return mustInt(o.ID)%2 == 0 })
	if err != nil {
		t.Fatal(err)
	}
	status, _, body = do(t, srv, call{"PUT", "/crm/v3/lists/" + dyn + "/memberships/add", `["` + ids[1] + `"]`})
	if status != 400 || body["subCategory"] != "ListError.PROCESSING_TYPE_NOT_SUPPORTED" {
		t.Errorf("write to a DYNAMIC list: %d %v", status, body)
	}
	if n := len(emu.ListMembers(dyn)); n != 150 {
		t.Errorf("dynamic list has %d members, want 150", n)
	}
	// Search: by name, count ≤ 500.
	status, _, body = do(t, srv, call{"POST", "/crm/v3/lists/search", `{"query":"pql","offset":0,"additionalProperties":["hs_list_size"]}`})
	lists, _ := body["lists"].([]any)
	if status != 200 || len(lists) != 1 || lists[0].(map[string]any)["additionalProperties"].(map[string]any)["hs_list_size"] != "298" {
		t.Fatalf("search: %d %v", status, body)
	}
	if status, _, _ := do(t, srv, call{"POST", "/crm/v3/lists/search", `{"offset":0,"count":501}`}); status != 400 {
		t.Errorf("count 501: %d, want 400", status)
	}
	if status, _, _ := do(t, srv, call{"GET", "/crm/v3/lists/424242", ""}); status != 404 {
		t.Errorf("unknown list: %d, want 404", status)
	}
	if status, _, body := do(t, srv, call{"GET", "/crm/v3/lists/object-type-id/0-1/name/PQLS", ""}); status != 200 || body["list"].(map[string]any)["listId"] != listID {
		t.Errorf("by name, other case: %d %v", status, body)
	}
	// A token with crm.lists.write alone cannot write memberships.
	emu.AddToken("pat-na1-lists-write", "crm.lists.write")
	req, _ := http.NewRequest("PUT", srv.URL+"/crm/v3/lists/"+listID+"/memberships/add", strings.NewReader(`["`+ids[2]+`"]`))
	req.Header.Set("Authorization", "Bearer pat-na1-lists-write")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var scoped map[string]any
	json.NewDecoder(resp.Body).Decode(&scoped)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(fmt.Sprint(scoped["errors"]), "crm.lists.read") {
		t.Errorf("write with crm.lists.write only: %d %v, want 403 naming crm.lists.read", resp.StatusCode, scoped)
	}
}

func mustInt(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// TestArchiveProperty: a deleted (archived) property is gone to reads,
// writes and the definitions list, and its name stays taken.
func TestArchiveProperty(t *testing.T) {
	emu, srv := newServer(t, hubspottest.Options{})
	id, _ := emu.CreateObject("contacts", map[string]string{"email": "a@x.com", "trial_end": "2026-01-02"})
	if code, _, _ := do(t, srv, call{"DELETE", "/crm/v3/properties/contacts/trial_end", ""}); code != http.StatusNoContent {
		t.Fatalf("DELETE property: %d, want 204", code)
	}
	if code, _, _ := do(t, srv, call{"DELETE", "/crm/v3/properties/contacts/trial_end", ""}); code != http.StatusNotFound {
		t.Errorf("DELETE an archived property: %d, want 404", code)
	}
	if code, _, _ := do(t, srv, call{"DELETE", "/crm/v3/properties/contacts/email", ""}); code != http.StatusBadRequest {
		t.Errorf("DELETE one of HubSpot's own properties: %d, want 400", code)
	}
	_, _, body := do(t, srv, call{"GET", "/crm/v3/objects/contacts/" + id + "?properties=email,trial_end", ""})
	if props, _ := body["properties"].(map[string]any); props["email"] != "a@x.com" || props["trial_end"] != nil || len(props) == 0 {
		t.Errorf("read after archiving: %v, want email and no trial_end", body["properties"])
	} else if _, ok := props["trial_end"]; ok {
		t.Errorf("read after archiving returns trial_end (as %v)", props["trial_end"])
	}
	_, _, body = do(t, srv, call{"GET", "/crm/v3/properties/contacts", ""})
	for _, p := range body["results"].([]any) {
		if p.(map[string]any)["name"] == "trial_end" {
			t.Errorf("the definitions list still has trial_end")
		}
	}
	_, _, body = do(t, srv, call{"GET", "/crm/v3/properties/contacts?archived=true", ""})
	if r := body["results"].([]any); len(r) != 1 || r[0].(map[string]any)["name"] != "trial_end" {
		t.Errorf("archived definitions = %v, want trial_end", r)
	}
	code, _, body := do(t, srv, call{"PATCH", "/crm/v3/objects/contacts/" + id, `{"properties":{"trial_end":"2026-02-01"}}`})
	if code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(body), "PROPERTY_DOESNT_EXIST") {
		t.Errorf("write to an archived property: %d %v, want 400 PROPERTY_DOESNT_EXIST", code, body)
	}
	code, _, _ = do(t, srv, call{"POST", "/crm/v3/properties/contacts", `{"name":"trial_end","label":"Trial end","type":"date","fieldType":"date","groupName":"contactinformation"}`})
	if code != http.StatusConflict {
		t.Errorf("re-create an archived property's name: %d, want 409", code)
	}
}
