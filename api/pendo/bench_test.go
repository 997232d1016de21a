package pendo_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/api/jsonscan"
	"github.com/backflow-dev/backflow/api/pendo"
	"github.com/backflow-dev/backflow/api/pendo/pendotest"
)

// visitorStream answers an aggregation with n visitor rows generated on
// the fly, each shaped like Pendo's sample (agent, auto and custom
// groups, ~590 bytes), so that the benchmark measures the client, not an
// in-memory store. Rows are appended with strconv, not fmt, so that the
// server costs little next to the client and the raw read measures the
// wire.
func visitorStream(n int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		bw := bufio.NewWriterSize(w, 256<<10)
		bw.WriteString(`{"startTime":1795186800000,"results":[`)
		var row []byte
		for i := 0; i < n; i++ {
			row = row[:0]
			if i > 0 {
				row = append(row, ',')
			}
			row = appendVisitor(row, i)
			bw.Write(row)
		}
		bw.WriteString("]}")
		bw.Flush()
	})
}

// visitorStreamFmt is visitorStream written with fmt, as the benchmark
// was when the extraction-speed issue measured 0.12: the server then
// writes ~400 MB/s, about what it can generate, so the ratio to its raw
// read is the figure. visitorStream's raw read runs at loopback
// speed (over 1 GB/s), far past any real API's answer.
func visitorStreamFmt(n int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		bw := bufio.NewWriterSize(w, 256<<10)
		fmt.Fprint(bw, `{"startTime":1795186800000,"results":[`)
		for i := 0; i < n; i++ {
			if i > 0 {
				bw.WriteByte(',')
			}
			fmt.Fprintf(bw, `{"visitorId":"user-%08d","metadata":{"agent":{"email":"user%d@example.com","full_name":"User %d","language":"en_US"},`+
				`"auto":{"accountid":"acct-%d","accountids":["acct-%d"],"firstvisit":1763547077029,"id":"user-%08d","idhash":%d,"lastbrowsername":"Chrome",`+
				`"lastbrowserversion":"130.0.6723","lastoperatingsystem":"Mac OS X","lastservername":"app.example.com","lastupdated":1795158257624,`+
				`"lastuseragent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5)","lastvisit":1795151385415},`+
				`"custom":{"plan":"professional","seats":%d,"churn_risk":0.%d,"renewal":1798761600000}}}`,
				i, i, i, i%5000, i%5000, i, 4108050209-i, i%300, i%10)
		}
		bw.WriteString("]}")
		bw.Flush()
	})
}

func appendVisitor(b []byte, i int) []byte {
	id := func(b []byte) []byte {
		b = append(b, "user-"...)
		for d := 10_000_000; d > 0; d /= 10 {
			b = append(b, byte('0'+i/d%10))
		}
		return b
	}
	num := func(b []byte, v int) []byte { return strconv.AppendInt(b, int64(v), 10) }
	b = append(b, `{"visitorId":"`...)
	b = id(b)
	b = append(b, `","metadata":{"agent":{"email":"user`...)
	b = num(b, i)
	b = append(b, `@example.com","full_name":"User `...)
	b = num(b, i)
	b = append(b, `","language":"en_US"},"auto":{"accountid":"acct-`...)
	b = num(b, i%5000)
	b = append(b, `","accountids":["acct-`...)
	b = num(b, i%5000)
	b = append(b, `"],"firstvisit":1763547077029,"id":"`...)
	b = id(b)
	b = append(b, `","idhash":`...)
	b = num(b, 4108050209-i)
	b = append(b, `,"lastbrowsername":"Chrome","lastbrowserversion":"130.0.6723","lastoperatingsystem":"Mac OS X","lastservername":"app.example.com","lastupdated":1795158257624,`+
		`"lastuseragent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5)","lastvisit":1795151385415},"custom":{"plan":"professional","seats":`...)
	b = num(b, i%300)
	b = append(b, `,"churn_risk":0.`...)
	b = num(b, i%10)
	b = append(b, `,"renewal":1798761600000}}}`...)
	return b
}

// peakHeap samples the heap every 5 ms until the returned stop is called,
// which returns the peak in MB.
func peakHeap() func() float64 {
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() float64 {
		close(stop)
		wg.Wait()
		return float64(peak.Load()) / (1 << 20)
	}
}

// rawRead posts to the server and reads the answer into io.Discard: the
// wire's speed for the same bytes, the baseline of the decode ratios.
func rawRead(b *testing.B, srv *httptest.Server) (time.Duration, int64) {
	start := time.Now()
	resp, err := srv.Client().Post(srv.URL+"/api/v1/aggregation", "application/json", strings.NewReader(`{}`))
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		b.Fatal(err)
	}
	return time.Since(start), n
}

// decode streams an n-visitor response through Visitors, reading every
// metadata field of every row, and returns rows per second and the peak
// heap in MB.
func decode(b *testing.B, srv *httptest.Server, n int) (float64, float64) {
	c, err := pendo.New(pendo.Config{BaseURL: srv.URL, IntegrationKey: "k", HTTPClient: srv.Client()})
	if err != nil {
		b.Fatal(err)
	}
	stop := peakHeap()
	start := time.Now()
	rows, fields := 0, 0
	err = c.Visitors(context.Background(), pendo.ListOptions{PageSize: n + 1}, func(e *pendo.Entity) error {
		rows++
		return e.Fields(func(group, field []byte, value jsonscan.Value) error { fields++; return nil })
	})
	elapsed := time.Since(start)
	peak := stop()
	if err != nil {
		b.Fatal(err)
	}
	if rows != n || fields != 19*n {
		b.Fatalf("decoded %d of %d rows, %d of %d fields", rows, n, fields, 19*n)
	}
	return float64(n) / elapsed.Seconds(), peak
}

// BenchmarkDecodeVisitors decodes a 1,000,000-visitor aggregation response
// and, for comparison, a 100,000-visitor one: memory must stay flat. The
// ratios are to a raw read of the same response in the same run, from the
// fmt-written server (the figure) and from one at loopback speed.
func BenchmarkDecodeVisitors(b *testing.B) {
	small := httptest.NewServer(visitorStream(100_000))
	defer small.Close()
	fast := httptest.NewServer(visitorStream(1_000_000))
	defer fast.Close()
	slow := httptest.NewServer(visitorStreamFmt(1_000_000))
	defer slow.Close()
	for i := 0; i < b.N; i++ {
		_, smallPeak := decode(b, small, 100_000)
		raw, size := rawRead(b, slow)
		rate, peak := decode(b, slow, 1_000_000)
		rawRate := 1e6 / raw.Seconds()
		fastRaw, fastSize := rawRead(b, fast)
		fastRate, _ := decode(b, fast, 1_000_000)
		fastRawRate := 1e6 / fastRaw.Seconds()
		b.ReportMetric(rate/rawRate, "ratio")
		fmt.Printf("bench: pendo_decode_ratio %.2f ratio\n", rate/rawRate)
		fmt.Printf("bench: pendo_decode_rows_per_s %.0f rows/s\n", rate)
		fmt.Printf("bench: pendo_raw_read_rows_per_s %.0f rows/s (%.0f MB/s)\n", rawRate, float64(size)/raw.Seconds()/1e6)
		fmt.Printf("bench: pendo_decode_loopback_ratio %.2f ratio\n", fastRate/fastRawRate)
		fmt.Printf("bench: pendo_decode_loopback_rows_per_s %.0f rows/s\n", fastRate)
		fmt.Printf("bench: pendo_raw_read_loopback_rows_per_s %.0f rows/s (%.0f MB/s)\n", fastRawRate, float64(fastSize)/fastRaw.Seconds()/1e6)
		fmt.Printf("bench: pendo_decode_peak_mb %.1f MB\n", peak)
		fmt.Printf("bench: pendo_decode_peak_mb_100k %.1f MB\n", smallPeak)
	}
}

// featureStream answers with n feature-event rows of one day, shaped like
// Pendo's (~330 bytes a row), appended as visitorStream's are.
func featureStream(day time.Time, n int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		bw := bufio.NewWriterSize(w, 256<<10)
		bw.WriteString(`{"startTime":1795186800000,"results":[`)
		ms := day.UnixMilli()
		var b []byte
		num := func(v int64) { b = strconv.AppendInt(b, v, 10) }
		for i := 0; i < n; i++ {
			b = b[:0]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"accountId":"acct-`...)
			num(int64(i % 5000))
			b = append(b, `","appId":-323232,"day":`...)
			num(ms)
			b = append(b, `,"featureId":"feat-`...)
			num(int64(i % 400))
			b = append(b, `","firstTime":`...)
			num(ms + int64(i%3600)*1000)
			b = append(b, `,"lastTime":`...)
			num(ms + int64(i%3600)*2000)
			b = append(b, `,"numEvents":`...)
			num(int64(i%50 + 1))
			b = append(b, `,"numMinutes":`...)
			num(int64(i%20 + 1))
			b = append(b, `,"remoteIp":"10.0.`...)
			num(int64(i % 256))
			b = append(b, '.')
			num(int64(i % 200))
			b = append(b, `","server":"app.example.com","userAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15","visitorId":"user-`...)
			num(int64(i))
			b = append(b, `"}`...)
			bw.Write(b)
		}
		bw.WriteString("]}")
		bw.Flush()
	})
}

// featureStreamFmt is featureStream written with fmt, at the speed of
// visitorStreamFmt.
func featureStreamFmt(day time.Time, n int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		bw := bufio.NewWriterSize(w, 256<<10)
		fmt.Fprint(bw, `{"startTime":1795186800000,"results":[`)
		ms := day.UnixMilli()
		for i := 0; i < n; i++ {
			if i > 0 {
				bw.WriteByte(',')
			}
			fmt.Fprintf(bw, `{"accountId":"acct-%d","appId":-323232,"day":%d,"featureId":"feat-%d","firstTime":%d,"lastTime":%d,`+
				`"numEvents":%d,"numMinutes":%d,"remoteIp":"10.0.%d.%d","server":"app.example.com",`+
				`"userAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15","visitorId":"user-%d"}`,
				i%5000, ms, i%400, ms+int64(i%3600)*1000, ms+int64(i%3600)*2000, i%50+1, i%20+1, i%256, i%200, i)
		}
		bw.WriteString("]}")
		bw.Flush()
	})
}

// BenchmarkDecodeFeatureEvents decodes a 1,000,000-row feature-event
// response through Events, reading every field of every row, against a
// raw read of the same response.
func BenchmarkDecodeFeatureEvents(b *testing.B) {
	const n = 1_000_000
	day := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	slow := httptest.NewServer(featureStreamFmt(day, n))
	defer slow.Close()
	fast := httptest.NewServer(featureStream(day, n))
	defer fast.Close()
	read := func(srv *httptest.Server) (time.Duration, float64) {
		c, err := pendo.New(pendo.Config{BaseURL: srv.URL, IntegrationKey: "k", HTTPClient: srv.Client()})
		if err != nil {
			b.Fatal(err)
		}
		stop := peakHeap()
		start := time.Now()
		rows, fields := 0, 0
		q := pendo.EventQuery{Stream: pendo.Streams["featureEvents"], From: day, To: day.Add(time.Hour), PageSize: n + 1}
		err = c.EventRows(context.Background(), q, func(row jsonscan.Value) error {
			rows++
			return row.Members(func(key []byte, value jsonscan.Value) error { fields++; return nil })
		})
		elapsed := time.Since(start)
		peak := stop()
		if err != nil {
			b.Fatal(err)
		}
		if rows != n || fields != 12*n {
			b.Fatalf("decoded %d of %d rows, %d fields", rows, n, fields)
		}
		return elapsed, peak
	}
	for i := 0; i < b.N; i++ {
		raw, _ := rawRead(b, slow)
		elapsed, peak := read(slow)
		fastRaw, _ := rawRead(b, fast)
		fastElapsed, _ := read(fast)
		ratio := raw.Seconds() / elapsed.Seconds()
		b.ReportMetric(ratio, "ratio")
		fmt.Printf("bench: pendo_events_decode_ratio %.2f ratio\n", ratio)
		fmt.Printf("bench: pendo_events_decode_rows_per_s %.0f rows/s\n", float64(n)/elapsed.Seconds())
		fmt.Printf("bench: pendo_events_decode_loopback_ratio %.2f ratio\n", fastRaw.Seconds()/fastElapsed.Seconds())
		fmt.Printf("bench: pendo_events_decode_peak_mb %.1f MB\n", peak)
	}
}

// BenchmarkTrackThroughput sends 1,500 track events (15 s at the
// emulator's 100 requests/s) and reports the rate as a share of it.
func BenchmarkTrackThroughput(b *testing.B) {
	const n = 1500
	emu := pendotest.New(pendotest.Options{IntegrationKey: "k", TrackSecret: "s"})
	srv := httptest.NewServer(emu)
	defer srv.Close()
	c, err := pendo.New(pendo.Config{BaseURL: srv.URL, IntegrationKey: "k", TrackSecret: "s", HTTPClient: srv.Client()})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		now := time.Now()
		events := make([]pendo.TrackEvent, n)
		for k := range events {
			events[k] = pendo.TrackEvent{Event: "Warehouse Sync", VisitorID: fmt.Sprintf("v%d", k%100), Timestamp: now, Properties: map[string]any{"k": k}}
		}
		start := time.Now()
		errs := c.TrackAll(context.Background(), events, 8)
		elapsed := time.Since(start).Seconds()
		failed := 0
		for _, err := range errs {
			if err != nil {
				failed++
			}
		}
		_, limited := emu.Requests()
		ratio := float64(n) / elapsed / 100
		b.ReportMetric(ratio, "ratio")
		fmt.Printf("bench: pendo_track_ratio %.3f ratio\n", ratio)
		fmt.Printf("bench: pendo_track_lost %d events\n", n-emu.TrackReceived()+failed)
		fmt.Printf("bench: pendo_track_429s %d responses\n", limited)
	}
}
