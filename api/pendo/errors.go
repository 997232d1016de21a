package pendo

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Error is a failed Pendo call. Pendo's error bodies are often plain text or
// empty, so Message holds whatever text came back.
type Error struct {
	Op      string // "POST /api/v1/aggregation"
	Status  int
	Message string
	Host    string
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Status == http.StatusForbidden && msg == "" {
		msg = fmt.Sprintf("invalid integration key, a key without write access, or a key from another region (host %s)", e.Host)
	}
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("pendo: %s: %d: %s", e.Op, e.Status, msg)
}

func readError(resp *http.Response, op, host string) *Error {
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	msg := strings.TrimSpace(string(raw))
	if strings.HasPrefix(msg, "<") { // an HTML page from a proxy or WAF
		msg = http.StatusText(resp.StatusCode)
	}
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	return &Error{Op: op, Status: resp.StatusCode, Message: msg, Host: host}
}

// ErrTimeZone is wrapped by the error Events returns when Pendo's day
// buckets show that the subscription keeps another time zone than the
// client's: the periods asked for would not line up with Pendo's.
var ErrTimeZone = errors.New("pendo.timezone does not match the subscription's time zone")
