package notify_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backflow-dev/backflow/api/memnet"
	"github.com/backflow-dev/backflow/notify"
)

// TestPost_HangingWebhookTimesOut: a webhook that never answers costs
// Timeout, not the rest of the run's life, and the error does not show
// the URL (it holds the secret).
func TestPost_HangingWebhookTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		srv := memnet.Serve(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
		defer srv.Close()
		defer close(release)
		start := time.Now()
		err := notify.Post(context.Background(), srv.Client, srv.URL+"/services/T000/B000/secret", notify.Message{Text: "x"})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != notify.Timeout {
			t.Fatalf("err %v after %v, want a deadline after %v", err, time.Since(start), notify.Timeout)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Fatalf("the error shows the URL: %v", err)
		}
	})
}
