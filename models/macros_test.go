package models_test

import (
	"testing"
)

// Every shipped macro, on ordinary and awkward input.
func TestMacros_All(t *testing.T) {
	w := open(t)
	tests := []struct{ expr, want string }{
		{"normalize_email('  Ada.Lovelace@Example.COM ')", "ada.lovelace@example.com"},
		{"normalize_email('a+tag@X.com')", "a+tag@x.com"},
		{"normalize_email(chr(9) || 'Tab@X.com' || chr(10))", "tab@x.com"},
		{"coalesce(normalize_email('   '), 'NULL')", "NULL"},
		{"email_domain(' Bob@Gmail.com')", "gmail.com"},
		{"coalesce(email_domain('no-at-sign'), 'NULL')", "NULL"},
		{"normalize_domain('https://www.Acme.io/pricing')", "acme.io"},
		{"is_free_email_domain('GMAIL.com')::VARCHAR", "true"},
		{"is_free_email_domain('acme.io')::VARCHAR", "false"},
		{"hubspot_date_to_pendo_time(DATE '2026-03-01')::VARCHAR", "1772323200000"},
		{"hubspot_date_to_pendo_time('2026-03-01')::VARCHAR", "1772323200000"},
		{"hubspot_date_to_pendo_time('1772323200000')::VARCHAR", "1772323200000"},
		{"hubspot_datetime_to_pendo_time(TIMESTAMPTZ '2026-03-01 12:30:00+00')::VARCHAR", "1772368200000"},
		{"hubspot_datetime_to_pendo_time('2026-03-01T12:30:00.000Z')::VARCHAR", "1772368200000"},
		{"hubspot_datetime_to_pendo_time('1772368200123')::VARCHAR", "1772368200123"},
		{"hubspot_bool('true')::VARCHAR", "true"},
		{"hubspot_bool(' FALSE ')::VARCHAR", "false"},
		{"coalesce(hubspot_bool('yes')::VARCHAR, 'NULL')", "NULL"},
		{"hubspot_number('17.5')::VARCHAR", "17.5"},
		{"coalesce(hubspot_number('n/a')::VARCHAR, 'NULL')", "NULL"},
		{"hubspot_multi_split('a;b;;c')::VARCHAR", "[a, b, c]"},
		{"hubspot_multi_join(['a', 'b'])", "a;b"},
		{"coalesce(hubspot_multi_join([]::VARCHAR[]), 'NULL')", "NULL"},
		{"pendo_time_to_hubspot_date(1772368200000)", "2026-03-01"},
		{"pendo_time_to_hubspot_date(TIMESTAMPTZ '2026-03-01 23:30:00-05')", "2026-03-02"},
		{"pendo_time_to_hubspot_datetime(1772368200123)", "2026-03-01T12:30:00.123Z"},
		{"nps_category(10)", "promoter"},
		{"nps_category(9)", "promoter"},
		{"nps_category(8)", "passive"},
		{"nps_category(7)", "passive"},
		{"nps_category(6)", "detractor"},
		{"nps_category(0)", "detractor"},
		{"coalesce(nps_category(11), 'NULL')", "NULL"},
		{"coalesce(nps_category(NULL), 'NULL')", "NULL"},
		// event_key: the documented definition, reproduced by hand.
		{"event_key('v1', 42)", "7930a0c8-85cb-bda5-ccf7-f73c41488e3d"}, // computed outside DuckDB: Python hashlib on ["v1",42]
		{"event_key('v1', 42) = regexp_replace(left(sha256('[\"v1\",42]'), 32), '^(.{8})(.{4})(.{4})(.{4})(.{12})$', '\\1-\\2-\\3-\\4-\\5')", "true"},
		// NULLs and separators are unambiguous.
		{"(event_key('a,b', 'c') <> event_key('a', 'b,c'))::VARCHAR", "true"},
		{"(event_key(NULL, 'x') <> event_key('null', 'x'))::VARCHAR", "true"},
		{"(event_key('', 'x') <> event_key(NULL, 'x'))::VARCHAR", "true"},
		{"(event_key(1, 2, 3, 4, 5, 6, 7, 8) = event_key(1, 2, 3, 4, 5, 6, 7, 8))::VARCHAR", "true"},
	}
	for _, tt := range tests {
		var got string
		if err := w.DB().QueryRow("SELECT " + tt.expr).Scan(&got); err != nil {
			t.Errorf("%s: %v", tt.expr, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%s = %q, want %q", tt.expr, got, tt.want)
		}
	}
}
