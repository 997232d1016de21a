package redact_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/backflow-dev/backflow/api/redact"
)

func TestRedactor(t *testing.T) {
	r := redact.New("sandbox-pendo-integration-key", "s3cr3t/with+chars", "k")
	tests := []struct {
		name, in string
		gone     []string // must not survive
		kept     []string // must survive
	}{
		{"known_secret", "403: key sandbox-pendo-integration-key refused", []string{"sandbox-pendo-integration-key"}, []string{"403: key", "refused"}},
		{"url_encoded", "GET /x?key=s3cr3t%2Fwith%2Bchars", []string{"s3cr3t%2Fwith%2Bchars", "s3cr3t"}, []string{"GET /x?key="}},
		{"json_escaped", `{"k":"s3cr3t\/with+chars"}`, []string{`s3cr3t\/with+chars`}, nil},
		{"hubspot_token", "echo: pat-na1-1b2c3d4e-aaaa-bbbb-cccc-1234567890ab in header", []string{"1b2c3d4e"}, []string{"echo:", "in header"}},
		{"bearer", "Authorization: Bearer abc.DEF-ghi_jkl~mno", []string{"abc.DEF"}, []string{"Authorization"}},
		{"header_echo", "X-Pendo-Integration-Key: 7d9f0c1e-2b3a-4c5d-9e8f-001122334455\nHost: app.pendo.io", []string{"7d9f0c1e"}, []string{"Host: app.pendo.io"}},
		{"json_field", `{"access_token":"CJT9cdl0LmoCAQ","refresh_token":"na1-1234-5678-abcd","expires_in":1800}`, []string{"CJT9cdl0", "na1-1234"}, []string{`"expires_in":1800`}},
		{"jwt", "id eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlLXZhbHVl end", []string{"eyJhbGci"}, []string{"id", "end"}},
		{"short_secret_ignored", "a key k here", nil, []string{"a key k here"}},
		{"ordinary_text", "contact 512: INVALID_EMAIL: property email is not valid", nil, []string{"contact 512: INVALID_EMAIL: property email is not valid"}},
		{"env_var_advice", "track events need Pendo's track event secret: set PENDO_TRACK_SECRET", nil, []string{"set PENDO_TRACK_SECRET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := r.String(tt.in)
			for _, g := range tt.gone {
				if strings.Contains(got, g) {
					t.Errorf("%q survived: %s", g, got)
				}
			}
			for _, k := range tt.kept {
				if !strings.Contains(got, k) {
					t.Errorf("%q was lost: %s", k, got)
				}
			}
		})
	}
	if got := r.Error(errors.New("bad sandbox-pendo-integration-key")); got != "bad "+redact.Mask {
		t.Errorf("Error = %q", got)
	}
	var zero *redact.Redactor
	if got := zero.String("Bearer abcdefghij"); strings.Contains(got, "abcdefghij") {
		t.Errorf("a nil Redactor keeps credential-shaped text: %s", got)
	}
}
