package clock_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/backflow-dev/backflow/internal/clock"
)

func TestFrom_MovesOnFromTheStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Date(2027, 3, 14, 23, 59, 30, 0, time.UTC)
		now := clock.From(start)
		if got := now(); !got.Equal(start) {
			t.Fatalf("now() = %s, want %s", got, start)
		}
		time.Sleep(45 * time.Second)
		if got := now(); !got.Equal(start.Add(45 * time.Second)) {
			t.Fatalf("45 s later now() = %s", got)
		}
	})
}

func TestManual(t *testing.T) {
	start := time.Date(2026, 12, 1, 23, 59, 30, 0, time.UTC)
	m := clock.NewManual(start)
	if !m.Now().Equal(start) {
		t.Fatal("a new clock is not at its start")
	}
	m.Advance(time.Second)
	m.Advance(0)
	if want := start.Add(time.Second); !m.Now().Equal(want) {
		t.Fatalf("Now() = %s, want %s", m.Now(), want)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"2026-12-01T23:59:30-05:00", time.Date(2026, 12, 2, 4, 59, 30, 0, time.UTC), true},
		{"2026-12-01T23:59:30.250Z", time.Date(2026, 12, 1, 23, 59, 30, 250e6, time.UTC), true},
		{"2026-12-01 23:59:30", time.Time{}, false},
		{"yesterday", time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := clock.Parse(tt.in)
		if (err == nil) != tt.ok || (tt.ok && !got.Equal(tt.want)) {
			t.Errorf("Parse(%q) = %s, %v", tt.in, got, err)
		}
	}
}
