package hubspot

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// The vectors of HubSpot's validation pages (shared/reference/
// hubspot-lists-webhooks.md §7.4–7.5).
const (
	vecSecret = "cfc68c0b-4b4e-4ef8-b764-95350e4ea479"
	vecURI    = "https://webhook.site/335453f5-94b3-49d9-b684-a55354d4b8df"
	vecBody   = `[{"eventId":531833541,"subscriptionId":3923621,"portalId":48807704,"appId":16111050,"occurredAt":1752613920733,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":138017612137,"changeFlag":"CREATED","changeSource":"CRM_UI","sourceId":"userId:76023669"}]`
	vecTS     = "1752613922216"
	vecSig    = "gbj1XPRvUt0noT7i7fXfTzOD4sLzQmf0VT28ZYq0EYg="
)

func TestSignV3_HubSpotVector(t *testing.T) {
	if got := SignV3(vecSecret, "POST", vecURI, []byte(vecBody), vecTS); got != vecSig {
		t.Fatalf("SignV3 = %s, want HubSpot's %s", got, vecSig)
	}
}

func TestVerify(t *testing.T) {
	at := time.UnixMilli(1752613922216).UTC()
	v1Body := []byte(vecBody)
	tests := []struct {
		name    string
		secret  string
		headers map[string]string
		uri     string
		now     time.Time
		ok      bool
	}{
		{"v3_valid", vecSecret, map[string]string{HeaderSignatureV3: vecSig, HeaderTimestamp: vecTS}, vecURI, at.Add(time.Second), true},
		{"v3_escaped_uri", vecSecret, map[string]string{HeaderSignatureV3: vecSig, HeaderTimestamp: vecTS},
			"https%3A%2F%2Fwebhook.site%2F335453f5-94b3-49d9-b684-a55354d4b8df", at, true},
		{"v3_wrong_secret", "another-secret", map[string]string{HeaderSignatureV3: vecSig, HeaderTimestamp: vecTS}, vecURI, at, false},
		{"v3_stale", vecSecret, map[string]string{HeaderSignatureV3: vecSig, HeaderTimestamp: vecTS}, vecURI, at.Add(5*time.Minute + time.Second), false},
		{"v3_from_the_future", vecSecret, map[string]string{HeaderSignatureV3: vecSig, HeaderTimestamp: vecTS}, vecURI, at.Add(-6 * time.Minute), false},
		{"v3_other_url", vecSecret, map[string]string{HeaderSignatureV3: vecSig, HeaderTimestamp: vecTS}, "https://evil.example/hook", at, false},
		{"v3_bad_timestamp", vecSecret, map[string]string{HeaderSignatureV3: vecSig, HeaderTimestamp: "yesterday"}, vecURI, at, false},
		{"v1_valid", vecSecret, map[string]string{HeaderSignature: SignV1(vecSecret, v1Body), HeaderSigVersion: "v1"}, vecURI, at, true},
		{"v1_wrong", vecSecret, map[string]string{HeaderSignature: SignV1("x", v1Body)}, vecURI, at, false},
		{"v2_alone", vecSecret, map[string]string{HeaderSignature: SignV1(vecSecret, v1Body), HeaderSigVersion: "v2"}, vecURI, at, false},
		{"unsigned", vecSecret, map[string]string{}, vecURI, at, false},
		{"no_secret_configured", "", map[string]string{HeaderSignatureV3: vecSig, HeaderTimestamp: vecTS}, vecURI, at, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tt.headers {
				h.Set(k, v)
			}
			err := Verify(tt.secret, h.Get, "POST", tt.uri, []byte(vecBody), tt.now)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrSignature)) {
				t.Fatalf("Verify = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestSignV1_HubSpotVector(t *testing.T) {
	// HubSpot's v1 page: secret yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy, body
	// [{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]
	body := `[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]`
	if got, want := SignV1("yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy", []byte(body)), "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"; got != want {
		t.Fatalf("SignV1 = %s, want HubSpot's %s", got, want)
	}
}

func TestParseNotifications(t *testing.T) {
	ns, err := ParseNotifications([]byte(vecBody))
	if err != nil || len(ns) != 1 || ns[0].Type() != "contact.creation" || ns[0].ObjectID != 138017612137 {
		t.Fatalf("ParseNotifications = %+v, %v", ns, err)
	}
	if got := ns[0].Time(); !got.Equal(time.UnixMilli(1752613920733)) {
		t.Errorf("Time = %v", got)
	}
	again := ns[0]
	again.AttemptNumber, again.EventID = 3, 99
	if again.DedupeKey() != ns[0].DedupeKey() {
		t.Errorf("a retry has another dedupe key: %s vs %s", again.DedupeKey(), ns[0].DedupeKey())
	}
	for name, body := range map[string]string{
		"object_not_array": `{"eventId":1}`,
		"no_type":          `[{"objectId":1,"occurredAt":5}]`,
		"no_object":        `[{"subscriptionType":"contact.creation","occurredAt":5}]`,
		"eventType_only":   `[{"eventType":"contact.creation","objectId":1,"occurredAt":5}]`,
	} {
		_, err := ParseNotifications([]byte(body))
		if (err == nil) != (name == "eventType_only") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
