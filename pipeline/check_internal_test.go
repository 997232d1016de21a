package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"

	"github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/pendo"
)

// TestAPIFailure: preflight tells an API's or the network's failure
// (retry later, exit 1) from a refusal of the project's request (fix it,
// exit 3).
func TestAPIFailure(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"hubspot 502", fmt.Errorf("describe: %w", &hubspot.Error{Status: 502}), true},
		{"hubspot 429", &hubspot.Error{Status: 429}, true},
		{"hubspot redirect", &hubspot.Error{Status: 307}, true},
		{"hubspot 400", fmt.Errorf("x: %w", &hubspot.Error{Status: 400}), false},
		{"hubspot 404", &hubspot.Error{Status: 404}, false},
		{"hubspot 403", &hubspot.Error{Status: 403}, false},
		{"pendo gateway page", &pendo.Error{Status: 400, Foreign: true}, true},
		{"pendo 400", &pendo.Error{Status: 400}, false},
		{"no answer", &url.Error{Op: "Get", URL: "http://127.0.0.1:9", Err: errors.New("connection refused")}, true},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"a project mistake", errors.New(`fields: contacts has no property "x"`), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := apiFailure(tt.err); got != tt.want {
				t.Errorf("apiFailure(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
