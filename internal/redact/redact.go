// Package redact removes secrets from text before backflow prints, logs or
// stores it. An error body is input like any other: an upstream that
// echoes request headers (a debugging proxy, a WAF's block page) would
// otherwise put a token into stderr, the DuckDB file, its published copy
// and the report.
//
// Two rules, applied together: every secret the Redactor was given, in
// the forms it travels in (as is, URL-encoded, JSON-escaped), and anything
// credential-shaped (HubSpot private-app tokens, bearer tokens, JWTs, the
// value after a credential's name such as x-pendo-integration-key: or
// "refresh_token":).
package redact

import (
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Mask replaces what was removed.
const Mask = "[redacted]"

// minSecret is the shortest secret replaced literally: shorter ones (a
// test's "k") would blank out ordinary words.
const minSecret = 6

// Redactor removes known secrets and credential-shaped strings. The zero
// value removes the credential-shaped ones only. It is safe for
// concurrent use.
type Redactor struct {
	secrets []string // longest first, so a secret containing another goes whole
}

// New returns a Redactor for these secrets (empty and short ones are
// ignored).
func New(secrets ...string) *Redactor {
	r := &Redactor{}
	for _, s := range secrets {
		if len(s) < minSecret {
			continue
		}
		forms := []string{s, url.QueryEscape(s), url.PathEscape(s), strings.ReplaceAll(s, "/", `\/`)}
		if j, err := json.Marshal(s); err == nil {
			forms = append(forms, strings.Trim(string(j), `"`))
		}
		for _, f := range forms {
			if !slices.Contains(r.secrets, f) {
				r.secrets = append(r.secrets, f)
			}
		}
	}
	slices.SortFunc(r.secrets, func(a, b string) int { return len(b) - len(a) })
	return r
}

// With returns a Redactor that also removes these secrets.
func (r *Redactor) With(secrets ...string) *Redactor {
	if r == nil {
		return New(secrets...)
	}
	return New(append(slices.Clone(r.secrets), secrets...)...)
}

var (
	// pat-na1-…, pat-eu1-…: HubSpot private-app tokens.
	hubspotToken = regexp.MustCompile(`\bpat-[a-z]{2,4}[0-9]?-[A-Za-z0-9-]{6,}`)
	bearer       = regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}`)
	jwt          = regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)
	// A credential's name, a separator (": ", "=", `":"`), then its value.
	named = regexp.MustCompile(`(?i)((?:x-pendo-integration-key|x-pendo-track-event-secret|authorization|proxy-authorization|` +
		`api[_-]?key|hapikey|access[_-]?token|refresh[_-]?token|id[_-]?token|client[_-]?secret|password|passwd|secret|token|private[_-]?key)` +
		`["']?\s*[:=]\s*["']?)([^\s"',;&<>}{\]\[]{6,})`)
)

// String returns s without secrets.
func (r *Redactor) String(s string) string {
	if s == "" {
		return s
	}
	if r != nil {
		for _, sec := range r.secrets {
			s = strings.ReplaceAll(s, sec, Mask)
		}
	}
	s = hubspotToken.ReplaceAllString(s, Mask)
	s = jwt.ReplaceAllString(s, Mask)
	s = bearer.ReplaceAllString(s, "$1 "+Mask)
	return named.ReplaceAllStringFunc(s, func(m string) string {
		sub := named.FindStringSubmatch(m)
		if sub[2] == Mask || strings.HasPrefix(sub[2], "[redacted") {
			return m
		}
		return sub[1] + Mask
	})
}

// Wrap returns err with its text redacted; errors.Is and errors.As still
// see what it wraps. nil stays nil.
func (r *Redactor) Wrap(err error) error {
	if err == nil {
		return nil
	}
	return &scrubbed{msg: r.Error(err), err: err}
}

type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// Error is err's text without secrets ("" for nil).
func (r *Redactor) Error(err error) string {
	if err == nil {
		return ""
	}
	return r.String(err.Error())
}
