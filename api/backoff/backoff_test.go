package backoff_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/backflow-dev/backflow/api/backoff"
)

func TestDelay(t *testing.T) {
	tests := []struct {
		attempt  int
		base     time.Duration
		min, max time.Duration
	}{
		{0, time.Second, 500 * time.Millisecond, time.Second},
		{1, time.Second, time.Second, 2 * time.Second},
		{3, time.Second, 4 * time.Second, 8 * time.Second},
		{10, time.Second, backoff.Max / 2, backoff.Max},
	}
	for _, tt := range tests {
		for i := 0; i < 50; i++ {
			if d := backoff.Delay(tt.attempt, tt.base); d < tt.min || d > tt.max {
				t.Fatalf("Delay(%d, %v) = %v, want within [%v, %v]", tt.attempt, tt.base, d, tt.min, tt.max)
			}
		}
	}
}

func TestSleep_Canceled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(time.Minute, cancel)
		start := time.Now()
		if err := backoff.Sleep(ctx, time.Hour); err != context.Canceled {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d != time.Minute {
			t.Fatalf("Sleep returned after %v, want when the context was canceled (1m)", d)
		}
	})
}
