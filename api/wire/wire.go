// Package wire holds the rules the API clients apply to whatever crosses
// the network, because an answer is input too: a proxy, a gateway or a
// misbehaving upstream can say anything.
//
//   - Base URLs are https, except on loopback (an emulator, a local proxy).
//   - Redirects are never followed: a credential set on a request must
//     not travel to whatever host an answer names.
//   - Bodies are bounded, compressed and decompressed.
//   - A wait a server asks for is clamped, and said.
package wire

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// CheckBaseURL parses an API base URL and refuses one that would send
// credentials in the clear: http is for loopback hosts only.
func CheckBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("base URL %q: %w", raw, err)
	}
	if u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("base URL %q: want https://host[:port]", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("base URL %q: credentials in the URL are refused; use the token settings", redactURL(u))
	}
	if u.Scheme == "http" && !Loopback(u.Hostname()) {
		return nil, fmt.Errorf("base URL %q: plain http would send the credentials unencrypted; use https (http is allowed for loopback only)", raw)
	}
	return u, nil
}

// Loopback reports whether host names this machine.
func Loopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func redactURL(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// ErrRedirect is wrapped by the error a request gets when the server
// answers with a redirect.
var ErrRedirect = errors.New("redirect not followed")

// NoRedirects returns a shallow copy of c that never follows a redirect:
// the answer comes back as an error naming where it pointed, and no
// credential reaches that place. APIs do not redirect their calls; a
// redirect comes from something in between (a captive portal, a
// misconfigured proxy, an attacker).
func NoRedirects(c *http.Client) *http.Client {
	cp := *c
	cp.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		return fmt.Errorf("%w: %s answered %s with a redirect to %s", ErrRedirect, via[0].URL.Host, via[0].URL.Path, req.URL.Redacted())
	}
	return &cp
}

// ErrTooLarge is wrapped by the error a read gets past a body limit.
var ErrTooLarge = errors.New("response body over the limit")

// Body returns resp's body, decompressed when the server sent gzip (the
// clients ask for it themselves, so Go's transport leaves it to them), and
// failing with ErrTooLarge past max bytes on the wire or max bytes
// decompressed: an 8 MB body that inflates to 8 GB stops at max.
func Body(resp *http.Response, max int64) (io.ReadCloser, error) {
	raw := &limited{r: resp.Body, n: max, max: max, what: "on the wire"}
	if !strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		return readCloser{raw, resp.Body}, nil
	}
	zr, err := gzip.NewReader(raw)
	if err != nil {
		return nil, fmt.Errorf("gzip body: %w", err)
	}
	return readCloser{&limited{r: zr, n: max, max: max, what: "decompressed"}, resp.Body}, nil
}

// limited is io.LimitReader that fails, rather than ends, past its limit:
// a truncated body must never look like a whole one.
type limited struct {
	r      io.Reader
	n, max int64
	what   string
}

func (l *limited) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// One byte more decides: at the limit exactly is fine.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("%w: more than %s %s", ErrTooLarge, Size(l.max), l.what)
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

type readCloser struct {
	io.Reader
	c io.Closer
}

func (r readCloser) Close() error { return r.c.Close() }

// Size prints a byte count for messages.
func Size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// MaxWait is the longest wait a server may ask for before a retry; past it
// the wait is clamped (and the clients say so). HubSpot's windows are 1 and
// 10 seconds and Pendo's one second, so minutes mean a misbehaving
// upstream, not a rate limit; a run must not hold the file lock for hours
// on its say-so.
const MaxWait = 2 * time.Minute

// RetryAfter reads a Retry-After header (seconds, or an HTTP date measured
// from now) and clamps it to [0, MaxWait]; ok is false when the header is
// absent or unreadable, and clamped says the server asked for more.
func RetryAfter(h http.Header, now time.Time) (d time.Duration, clamped, ok bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false, false
	}
	var n int64
	if _, err := fmt.Sscan(v, &n); err == nil && fmt.Sprint(n) == v {
		if n < 0 {
			return 0, false, false
		}
		d = time.Duration(min(n, int64(MaxWait/time.Second)+1)) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false, false
	}
	d = max(d, 0)
	if d > MaxWait {
		return MaxWait, true, true
	}
	return d, false, true
}
