// Package faultproxy stands between backflow and an emulator and
// misbehaves on purpose, as the things between a client and an API do: a
// gateway answering its own error page, a WAF echoing the request, a
// debugging proxy rewriting bodies, a cache serving a page twice, an
// outage, a redirect to somewhere else. Tests install named Faults and
// check that nothing is lost, nothing leaks and nothing hangs.
package faultproxy

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Proxy is an http.Handler in front of next.
type Proxy struct {
	next http.Handler

	mu     sync.Mutex
	faults []*Fault
	hits   map[string]int // by fault name
}

// New returns a Proxy in front of next, with no fault.
func New(next http.Handler) *Proxy { return &Proxy{next: next, hits: map[string]int{}} }

// Fault is one misbehaviour for the requests Match accepts.
type Fault struct {
	Name  string
	Match func(*http.Request) bool
	// Times bounds how many requests it spoils (0: every one it matches).
	Times int
	// Serve answers the request; up forwards it to the emulator and
	// returns the emulator's answer, for faults that rewrite one.
	Serve func(w http.ResponseWriter, r *http.Request, up func(*http.Request) *http.Response)
}

// Add installs faults; the first that matches a request serves it.
func (p *Proxy) Add(f ...*Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = append(p.faults, f...)
}

// Clear removes every fault: the proxy forwards everything again.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = nil
}

// Hits is how many requests the named fault spoiled.
func (p *Proxy) Hits(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[name]
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	p.mu.Lock()
	var f *Fault
	for _, c := range p.faults {
		if (c.Times == 0 || p.hits[c.Name] < c.Times) && c.Match(r) {
			f = c
			p.hits[c.Name]++
			break
		}
	}
	p.mu.Unlock()
	if f == nil {
		p.next.ServeHTTP(w, r)
		return
	}
	up := func(req *http.Request) *http.Response {
		req.Body = io.NopCloser(bytes.NewReader(body))
		// The emulator gets an uncompressed answer to rewrite.
		req.Header.Del("Accept-Encoding")
		rec := httptest.NewRecorder()
		p.next.ServeHTTP(rec, req)
		return rec.Result()
	}
	f.Serve(w, r, up)
}

// Match helpers.

// Path matches requests whose path contains every part, with the method
// when one is given ("" for any).
func Path(method string, parts ...string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		if method != "" && r.Method != method {
			return false
		}
		for _, p := range parts {
			if !strings.Contains(r.URL.Path, p) {
				return false
			}
		}
		return true
	}
}

// After matches requests of m after the first n of them.
func After(n int, m func(*http.Request) bool) func(*http.Request) bool {
	var mu sync.Mutex
	seen := 0
	return func(r *http.Request) bool {
		if !m(r) {
			return false
		}
		mu.Lock()
		defer mu.Unlock()
		seen++
		return seen > n
	}
}

// Faults. Each returns a Fault for the requests m matches.

// Answer answers status with body and content type, never asking the
// emulator: a write answered 200 {} was never made.
func Answer(name string, m func(*http.Request) bool, status int, contentType, body string) *Fault {
	return &Fault{Name: name, Match: m, Serve: func(w http.ResponseWriter, r *http.Request, _ func(*http.Request) *http.Response) {
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		io.WriteString(w, body)
	}}
}

// GatewayPage answers status with an HTML page, as load balancers and WAFs
// do.
func GatewayPage(name string, m func(*http.Request) bool, status int) *Fault {
	return Answer(name, m, status, "text/html", fmt.Sprintf("<html><body><h1>%d %s</h1><p>The gateway refused the request.</p></body></html>", status, http.StatusText(status)))
}

// EchoRequest answers status with a body that repeats the request line and
// every header, credentials included, as debugging proxies and some WAF
// block pages do.
func EchoRequest(name string, m func(*http.Request) bool, status int, contentType string) *Fault {
	return &Fault{Name: name, Match: m, Serve: func(w http.ResponseWriter, r *http.Request, _ func(*http.Request) *http.Response) {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s\n", r.Method, r.URL.RequestURI())
		for k, vs := range r.Header {
			fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(vs, ", "))
		}
		text := b.String()
		if strings.Contains(contentType, "json") {
			j, _ := json.Marshal(map[string]any{"status": "error", "category": "VALIDATION_ERROR", "message": "request refused: " + text})
			text = string(j)
		}
		w.Header().Set("Content-Type", contentType)
		w.WriteHeader(status)
		io.WriteString(w, text)
	}}
}

// Redirect answers 307 to target + the request's path.
func Redirect(name string, m func(*http.Request) bool, target string) *Fault {
	return &Fault{Name: name, Match: m, Serve: func(w http.ResponseWriter, r *http.Request, _ func(*http.Request) *http.Response) {
		w.Header().Set("Location", strings.TrimRight(target, "/")+r.URL.RequestURI())
		w.WriteHeader(http.StatusTemporaryRedirect)
	}}
}

// Rewrite forwards the request and passes the emulator's JSON answer
// through edit before answering with it.
func Rewrite(name string, m func(*http.Request) bool, edit func(body map[string]any)) *Fault {
	return &Fault{Name: name, Match: m, Serve: func(w http.ResponseWriter, r *http.Request, up func(*http.Request) *http.Response) {
		resp := up(r)
		raw, _ := io.ReadAll(resp.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err == nil {
			edit(body)
			raw, _ = json.Marshal(body)
		}
		for k, vs := range resp.Header {
			if k != "Content-Length" {
				w.Header()[k] = vs
			}
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(raw)
	}}
}

// Replay answers every matching request after the first with the first
// one's answer: a cache serving page 1 again, its cursor included.
func Replay(name string, m func(*http.Request) bool) *Fault {
	var mu sync.Mutex
	var first []byte
	var header http.Header
	return &Fault{Name: name, Match: m, Serve: func(w http.ResponseWriter, r *http.Request, up func(*http.Request) *http.Response) {
		mu.Lock()
		if first == nil {
			resp := up(r)
			first, _ = io.ReadAll(resp.Body)
			header = resp.Header.Clone()
		}
		body, h := first, header
		mu.Unlock()
		for k, vs := range h {
			if k != "Content-Length" {
				w.Header()[k] = vs
			}
		}
		w.Write(body)
	}}
}

// Header forwards the request and sets headers on the answer.
func Header(name string, m func(*http.Request) bool, set map[string]string) *Fault {
	return &Fault{Name: name, Match: m, Serve: func(w http.ResponseWriter, r *http.Request, up func(*http.Request) *http.Response) {
		resp := up(r)
		for k, vs := range resp.Header {
			if k != "Content-Length" {
				w.Header()[k] = vs
			}
		}
		for k, v := range set {
			w.Header().Set(k, v)
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}}
}

// GzipBomb answers 200 with a gzip body that inflates to size bytes: a
// JSON object opening followed by whitespace, so a decoder keeps reading
// until something stops it. It is generated as it is sent.
func GzipBomb(name string, m func(*http.Request) bool, size int64) *Fault {
	return &Fault{Name: name, Match: m, Serve: func(w http.ResponseWriter, r *http.Request, _ func(*http.Request) *http.Response) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(http.StatusOK)
		zw, _ := gzip.NewWriterLevel(w, gzip.BestCompression)
		defer zw.Close()
		io.WriteString(zw, `{"results":`)
		chunk := bytes.Repeat([]byte(" "), 1<<20)
		for n := int64(0); n < size; n += int64(len(chunk)) {
			if _, err := zw.Write(chunk); err != nil {
				return // the client stopped reading
			}
		}
	}}
}

// Hang never answers: it waits until the client gives up.
func Hang(name string, m func(*http.Request) bool) *Fault {
	return &Fault{Name: name, Match: m, Serve: func(w http.ResponseWriter, r *http.Request, _ func(*http.Request) *http.Response) {
		<-r.Context().Done()
	}}
}
