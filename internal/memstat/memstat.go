// Package memstat reads the process's peak resident memory, for
// benchmarks that report how much memory a step took.
package memstat

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// ResetPeak sets the peak resident set back to the current one (Linux:
// /proc/self/clear_refs), so the next PeakMB measures one step. It
// reports whether the reset worked.
func ResetPeak() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// PeakMB returns the process's peak resident set (VmHWM) in MB, or -1
// where /proc is not available.
func PeakMB() float64 { return status("VmHWM:") }

// CurrentMB returns the process's resident set (VmRSS) in MB, or -1.
func CurrentMB() float64 { return status("VmRSS:") }

func status(field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				return -1
			}
			return kb / 1024
		}
	}
	return -1
}
