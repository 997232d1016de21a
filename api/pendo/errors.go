package pendo

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/backflow-dev/backflow/api/redact"
	"github.com/backflow-dev/backflow/api/wire"
)

// Error is a failed Pendo call. Pendo's error bodies are often plain text or
// empty, so Message holds whatever text came back.
type Error struct {
	Op      string // "POST /api/v1/aggregation"
	Status  int
	Message string
	Host    string
	// Foreign says the body was not Pendo's (an HTML page, as gateways,
	// WAFs and proxies send): the refusal is not about the request's rows.
	Foreign bool
}

// Temporary reports an answer that is not a refusal of the request: a
// 5xx, a 429, a gateway's page (Foreign), or anything outside 4xx.
func (e *Error) Temporary() bool {
	return e.Status >= 500 || e.Status == 429 || e.Status < 400 || e.Foreign
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

// readError reads an error answer, its body up to 64 KiB; every text taken
// from it passes through scrub, since an upstream that echoes the request
// would otherwise put the key into the message.
func readError(resp *http.Response, op, host string, scrub *redact.Redactor) *Error {
	defer resp.Body.Close()
	var raw []byte
	if body, err := wire.Body(resp, 64<<10); err == nil {
		raw, _ = io.ReadAll(body)
	}
	msg := scrub.String(strings.TrimSpace(string(raw)))
	foreign := false
	if strings.HasPrefix(msg, "<") || strings.Contains(strings.ToLower(resp.Header.Get("Content-Type")), "html") { // a proxy's or a WAF's page
		msg, foreign = http.StatusText(resp.StatusCode), true
	}
	if len(msg) > 500 {
		msg = msg[:500] + "…"
	}
	return &Error{Op: op, Status: resp.StatusCode, Message: msg, Host: host, Foreign: foreign}
}

// ErrTimeZone is wrapped by the error Events returns when Pendo's day
// buckets show that the subscription keeps another time zone than the
// client's: the periods asked for would not line up with Pendo's.
var ErrTimeZone = errors.New("pendo.timezone does not match the subscription's time zone")
