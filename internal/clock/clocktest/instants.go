// Package clocktest lists the instants the tests pin the clock at: the
// moments where a time window, a day bucket or a cursor is most likely to
// be wrong. Local times are the sandbox's: Pendo's emulator keeps its day
// buckets in America/New_York, as Pendo's own samples do.
package clocktest

import "time"

// Instant is a named moment.
type Instant struct {
	Name string
	Time time.Time
}

// Instants are, in order: an ordinary afternoon, 30 s after and 30 s
// before local midnight, the last minute of the 23-hour day DST starts on
// and the repeated hour of the 25-hour day it ends on, a month end, a year
// end, and a UTC midnight that is not a local one.
var Instants = []Instant{
	{"afternoon", mustParse("2026-12-01T15:00:00-05:00")},
	{"after_local_midnight", mustParse("2026-12-02T00:00:30-05:00")},
	{"before_local_midnight", mustParse("2026-12-01T23:59:30-05:00")},
	{"dst_starts", mustParse("2027-03-14T23:59:30-04:00")},
	{"dst_ends", mustParse("2027-11-07T01:30:00-05:00")},
	{"month_end", mustParse("2027-02-28T23:59:30-05:00")},
	{"year_end", mustParse("2026-12-31T23:59:30-05:00")},
	{"utc_midnight", mustParse("2026-12-02T00:00:30Z")},
}

// Named returns the instant called name; it panics on a name not listed,
// which is a mistake in a test.
func Named(name string) time.Time {
	for _, in := range Instants {
		if in.Name == name {
			return in.Time
		}
	}
	panic("clocktest: no instant " + name)
}

func mustParse(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
