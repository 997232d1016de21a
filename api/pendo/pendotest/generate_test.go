package pendotest

import (
	"fmt"
	"testing"
	"time"
)

// Generated history ends at the clock's present, at any instant.
func TestGenerateActivity_EndsAtNow(t *testing.T) {
	for _, now := range []time.Time{
		time.Date(2026, 12, 2, 5, 0, 30, 0, time.UTC),  // 30 s after midnight in New York
		time.Date(2027, 3, 15, 3, 59, 30, 0, time.UTC), // 30 s before the end of the 23-hour day
	} {
		s := New(Options{Now: func() time.Time { return now }})
		for i := 0; i < 50; i++ {
			s.PutVisitor(fmt.Sprintf("v%02d", i), nil)
		}
		if err := GenerateActivity(s, ActivityOptions{Days: 5, NPSRate: 1}); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, a := range s.activity {
			n++
			if a.Time.After(now) {
				t.Fatalf("at %s: %s activity at %s, in the future", now, a.Kind, a.Time)
			}
		}
		if n == 0 {
			t.Fatal("no activity")
		}
	}
}
