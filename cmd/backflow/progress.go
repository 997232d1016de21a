package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/backflow-dev/backflow/pipeline"
)

// display is what a command shows while it works. On a terminal, each
// phase (extraction, syncs) gets one progress container, and log lines
// are printed above its bars through it, never on a bar's line; a phase's
// bars are gone when it ends, its log lines stay. Elsewhere (a pipe, a
// file, CI) there are no bars: a log line every few seconds says how far
// each stream or sync is.
type display struct {
	terminal bool
	errOut   io.Writer

	mu   sync.Mutex
	p    *mpb.Progress
	bars map[string]*mpb.Bar
	// left is each sync's time left, read by its bar's decorator (which
	// must not take mu: the bar's goroutine renders it).
	left map[string]*atomic.Int64
	last map[string]time.Time
	logf func(msg string, args ...any)
}

func newDisplay(errOut io.Writer) *display {
	return &display{terminal: isTerminal(errOut), errOut: errOut, bars: map[string]*mpb.Bar{},
		left: map[string]*atomic.Int64{}, last: map[string]time.Time{}}
}

// Write is where log lines go: above the bars while a phase runs, else
// straight to stderr.
func (d *display) Write(b []byte) (int, error) {
	d.mu.Lock()
	p := d.p
	d.mu.Unlock()
	if p != nil {
		if n, err := p.Write(b); err == nil {
			return n, nil
		}
	}
	return d.errOut.Write(b)
}

// setLog gives the display the logger that reports progress off a
// terminal.
func (d *display) setLog(logf func(string, ...any)) { d.logf = logf }

// container is the current phase's container, started on first use.
// Callers hold d.mu.
func (d *display) container() *mpb.Progress {
	if d.p == nil {
		d.p = mpb.New(mpb.WithOutput(d.errOut), mpb.WithWidth(40), mpb.WithRefreshRate(120*time.Millisecond))
	}
	return d.p
}

// plainDue says whether a plain progress line for key is due: one per
// 5 s, the first after 5 s (short work needs none).
func (d *display) plainDue(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.logf == nil {
		return false
	}
	first, ok := d.last[key]
	if !ok {
		d.last[key] = time.Now()
		return false
	}
	if time.Since(first) < 5*time.Second {
		return false
	}
	d.last[key] = time.Now()
	return true
}

// extracting is extract.Options.Progress: rows read so far per stream.
func (d *display) extracting(stream string, rows int64) {
	if !d.terminal {
		// Logged outside mu: the log line comes back through Write.
		if d.plainDue(stream) {
			d.logf("extracting", "stream", stream, "rows", rows)
		}
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	b := d.bars[stream]
	if b == nil {
		b = d.container().New(0, mpb.SpinnerStyle(),
			mpb.PrependDecorators(decor.Name(stream, decor.WC{W: len(stream) + 1, C: decor.DindentRight})),
			mpb.AppendDecorators(decor.Any(func(s decor.Statistics) string { return fmt.Sprintf("%d rows", s.Current) })),
			mpb.BarRemoveOnComplete())
		d.bars[stream] = b
	}
	b.SetCurrent(rows)
}

// syncing is pipeline.Options.SyncProgress: rows sent of the plan's, and
// the time left at the limiter's pace.
func (d *display) syncing(p pipeline.SyncProgress) {
	if !d.terminal {
		if d.plainDue("sync " + p.Sync) {
			d.logf("syncing", "sync", p.Sync, "sent", p.Done, "of", p.Total, "eta", p.Left().Round(time.Second))
		}
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	left := d.left[p.Sync]
	if left == nil {
		left = &atomic.Int64{}
		d.left[p.Sync] = left
	}
	left.Store(int64(p.Left()))
	b := d.bars[p.Sync]
	if b == nil {
		b = d.container().New(p.Total, mpb.BarStyle(),
			mpb.PrependDecorators(decor.Name(p.Sync, decor.WC{W: len(p.Sync) + 1, C: decor.DindentRight}),
				decor.CountersNoUnit("%d/%d rows", decor.WC{W: 18})),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
				return " ETA " + time.Duration(left.Load()).Round(time.Second).String()
			})),
			mpb.BarRemoveOnComplete())
		d.bars[p.Sync] = b
	}
	b.SetCurrent(p.Done)
	if p.Done >= p.Total {
		b.SetTotal(-1, true)
	}
}

// end finishes the current phase: its bars are removed (complete or not)
// and what follows prints plainly.
func (d *display) end() {
	d.mu.Lock()
	p, bars := d.p, d.bars
	d.p, d.bars = nil, map[string]*mpb.Bar{}
	d.mu.Unlock()
	if p == nil {
		return
	}
	for _, b := range bars {
		if !b.Completed() {
			b.Abort(true)
		}
	}
	p.Wait()
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
