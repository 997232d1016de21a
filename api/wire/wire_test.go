package wire_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/api/wire"
)

func response(body []byte, gz bool) *http.Response {
	h := http.Header{}
	if gz {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(body)
		zw.Close()
		body = b.Bytes()
		h.Set("Content-Encoding", "gzip")
	}
	return &http.Response{Header: h, Body: io.NopCloser(bytes.NewReader(body))}
}

func TestBody(t *testing.T) {
	tests := []struct {
		name  string
		size  int
		gzip  bool
		limit int64
		ok    bool
	}{
		{"under", 99, false, 100, true},
		{"at_the_limit", 100, false, 100, true},
		{"one_over", 101, false, 100, false},
		{"gzip_under", 1000, true, 1000, true},
		{"gzip_inflates_past", 1 << 20, true, 1000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := wire.Body(response(bytes.Repeat([]byte("x"), tt.size), tt.gzip), tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(b)
			if tt.ok != (err == nil) || (tt.ok && len(got) != tt.size) {
				t.Fatalf("read %d bytes, err %v", len(got), err)
			}
			if !tt.ok && !errors.Is(err, wire.ErrTooLarge) {
				t.Fatalf("err = %v, want ErrTooLarge", err)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
	tests := []struct {
		value   string
		want    time.Duration
		clamped bool
		ok      bool
	}{
		{"", 0, false, false},
		{"3", 3 * time.Second, false, true},
		{"-5", 0, false, false},
		{"999999", wire.MaxWait, true, true},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second, false, true},
		{"Fri, 01 Jan 2099 00:00:00 GMT", wire.MaxWait, true, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, false, true},
		{"soon", 0, false, false},
	}
	for _, tt := range tests {
		d, clamped, ok := wire.RetryAfter(http.Header{"Retry-After": {tt.value}}, now)
		if d != tt.want || clamped != tt.clamped || ok != tt.ok {
			t.Errorf("RetryAfter(%q) = %v, %v, %v; want %v, %v, %v", tt.value, d, clamped, ok, tt.want, tt.clamped, tt.ok)
		}
	}
}

func TestCheckBaseURL(t *testing.T) {
	for url, want := range map[string]string{
		"https://api.hubapi.com":     "",
		"http://127.0.0.1:8081":      "",
		"http://localhost:8082":      "",
		"http://memnet.localhost":    "",
		"http://api.hubapi.com":      "plain http",
		"https://u:p@api.hubapi.com": "credentials in the URL",
		"api.hubapi.com":             "want https",
	} {
		_, err := wire.CheckBaseURL(url)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", url, err, want)
		}
	}
}
