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
	"context"
	"encoding/json"
	"log/slog"
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

// Handler returns a slog.Handler that redacts, through the Redactor that
// current returns at each record (a CLI learns its secrets after it made
// its logger), the message and every string and error attribute before h
// sees them.
func Handler(h slog.Handler, current func() *Redactor) slog.Handler {
	return &handler{next: h, current: current}
}

type handler struct {
	next    slog.Handler
	current func() *Redactor
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	r := h.current()
	out := slog.NewRecord(rec.Time, rec.Level, r.String(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(r.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	r := h.current()
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = r.attr(a)
	}
	return &handler{next: h.next.WithAttrs(clean), current: h.current}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{next: h.next.WithGroup(name), current: h.current}
}

func (r *Redactor) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, r.String(v.String()))
	case slog.KindGroup:
		group := v.Group()
		clean := make([]any, len(group))
		for i, g := range group {
			clean[i] = r.attr(g)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, r.Error(err))
		}
		if st, ok := v.Any().(interface{ String() string }); ok {
			return slog.String(a.Key, r.String(st.String()))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
