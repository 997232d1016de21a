package pendo

import (
	"errors"
	"testing"
	"time"
)

// npsDelivery is the shape of Pendo's documented npsSubmitted delivery.
const npsDelivery = `{"app":{"id":-323232,"name":"Acme","platform":"web"},"accountId":"acme","subscription":{"id":4802463602049999,"name":"Acme"},
"userAgent":"Mozilla/5.0","event":"npsSubmitted","visitorId":"user-1","timestamp":1626804431,"uniqueId":"ccb0f954a1b2c3d4e5f60718293a4b5c6d7e8f90",
"properties":{"guideId":"g1","language":"en-US","nps":{"rating":9,"reason":"fast","source":"web"}}}`

func TestParseWebhookEvent(t *testing.T) {
	e, err := ParseWebhookEvent([]byte(npsDelivery))
	if err != nil {
		t.Fatal(err)
	}
	if e.Event != "npsSubmitted" || e.VisitorID != "user-1" || e.Subscription.ID != 4802463602049999 || e.App.ID != -323232 {
		t.Fatalf("parsed %+v", e)
	}
	if !e.Time().Equal(time.Date(2021, 7, 20, 18, 7, 11, 0, time.UTC)) {
		t.Errorf("Time = %v: the timestamp is seconds", e.Time())
	}
	for name, body := range map[string]string{
		"array":           `[` + npsDelivery + `]`,
		"no_event":        `{"uniqueId":"ccb0f954a1b2c3d4e5f60718293a4b5c6d7e8f90","timestamp":1626804431}`,
		"bad_unique_id":   `{"event":"npsSubmitted","uniqueId":"x","timestamp":1626804431}`,
		"ms_timestamp":    `{"event":"npsSubmitted","uniqueId":"ccb0f954a1b2c3d4e5f60718293a4b5c6d7e8f90","timestamp":1626804431000}`,
		"empty_timestamp": `{"event":"npsSubmitted","uniqueId":"ccb0f954a1b2c3d4e5f60718293a4b5c6d7e8f90"}`,
	} {
		if _, err := ParseWebhookEvent([]byte(body)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestVerifySignature(t *testing.T) {
	body := []byte(npsDelivery)
	sig := Sign("s3cret", body)
	for _, tt := range []struct {
		name, secret, sig string
		ok                bool
	}{
		{"valid", "s3cret", sig, true},
		{"prefixed", "s3cret", "sha256=" + sig, true},
		{"wrong_secret", "other", sig, false},
		{"missing", "s3cret", "", false},
		{"tampered", "s3cret", Sign("s3cret", append(body, ' ')), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignature(tt.secret, body, tt.sig)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrSignature)) {
				t.Fatalf("VerifySignature = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
