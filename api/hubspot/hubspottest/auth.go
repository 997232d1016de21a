package hubspottest

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// token is an accepted bearer token.
type token struct {
	private bool      // a private-app token: never expires
	limited bool      // scopes restricts it; private tokens from Options.Tokens hold every scope
	scopes  []string  // granted scopes
	expires time.Time // OAuth access tokens only
}

// authenticate checks the bearer token, answering 401 with HubSpot's
// bodies; it returns the token for the scope check after routing.
func (s *Server) authenticate(rw *response, tok string) (*token, bool) {
	s.mu.Lock()
	t, ok := s.tokens[tok]
	now := s.now()
	s.mu.Unlock()
	if !ok {
		rw.error(http.StatusUnauthorized, apiError{Category: "INVALID_AUTHENTICATION", Message: authMissing})
		return nil, false
	}
	if !t.private && now.After(t.expires) {
		ago := int(now.Sub(t.expires).Seconds()) + 1
		rw.error(http.StatusUnauthorized, apiError{
			Category: "EXPIRED_AUTHENTICATION",
			Message:  fmt.Sprintf("The OAuth token used to make this call expired %d second(s) ago.", ago),
			Context:  map[string][]string{"expire time": {t.expires.UTC().Format(time.RFC1123)}},
		})
		return nil, false
	}
	return t, true
}

// authorize checks a routed request's scope, answering 403 MISSING_SCOPES.
func (s *Server) authorizeScope(rw *response, t *token, r *http.Request, rt route) bool {
	if rt.scope == nil || !t.limited {
		return true
	}
	// A route may need several scopes (space-separated), all of them.
	var missing []string
	for _, need := range strings.Fields(rt.scope(r)) {
		if !slices.Contains(t.scopes, need) {
			missing = append(missing, need)
		}
	}
	if len(missing) == 0 {
		return true
	}
	rw.error(http.StatusForbidden, apiError{
		Category: "MISSING_SCOPES",
		Message:  "This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.",
		Errors: []errorDetail{{
			Message: "One or more of the following scopes are required.",
			Context: map[string][]string{"requiredGranularScopes": missing},
		}},
	})
	return false
}

// objectScope maps an object type path segment to its read or write scope.
func objectScope(access string) func(r *http.Request) string {
	return func(r *http.Request) string {
		t := r.PathValue("objectType")
		switch {
		case t == "contacts" || t == "0-1":
			return "crm.objects.contacts." + access
		case t == "companies" || t == "0-2":
			return "crm.objects.companies." + access
		case t == "deals" || t == "0-3":
			return "crm.objects.deals." + access
		case t == "tickets" || t == "0-5":
			return "tickets"
		case t == "tasks" || t == "0-27":
			return "crm.objects.contacts." + access // tasks ride on the contact scopes
		}
		return "crm.objects.custom." + access
	}
}

func schemaScope(access string) func(r *http.Request) string {
	return func(r *http.Request) string {
		t := r.PathValue("objectType")
		switch t {
		case "contacts", "companies", "deals":
			return "crm.schemas." + t + "." + access
		}
		return "crm.schemas.custom." + access
	}
}

func fixedScope(scope string) func(*http.Request) string {
	return func(*http.Request) string { return scope }
}

// OAuthApp is the public app the emulator's OAuth endpoints accept.
type OAuthApp struct {
	ClientID     string
	ClientSecret string
	// RedirectURIs allowed; a loopback URI matches any port, as native
	// apps need (RFC 8252).
	RedirectURIs []string
	// AccessTokenTTL defaults to 30 minutes, HubSpot's lifetime.
	AccessTokenTTL time.Duration
}

type oauthState struct {
	codes   map[string]grant // authorization code → grant
	refresh map[string]grant // refresh token → grant
}

type grant struct {
	clientID, redirectURI, challenge string
	scopes                           []string
}

func (o *oauthState) init() {
	o.codes = map[string]grant{}
	o.refresh = map[string]grant{}
}

// serveOAuth handles /oauth/authorize (consenting at once, as a user who
// clicks "Connect app" would) and the v1 and v3 token endpoints.
func (s *Server) serveOAuth(rw *response, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/oauth/authorize":
		s.authorize(rw, r)
	case r.Method == http.MethodPost && (r.URL.Path == "/oauth/v1/token" || r.URL.Path == "/oauth/v3/token"):
		s.tokenEndpoint(rw, r)
	default:
		rw.error(http.StatusNotFound, apiError{Category: "OBJECT_NOT_FOUND", Message: "Unable to route " + r.Method + " " + r.URL.Path})
	}
}

func (s *Server) redirectAllowed(uri string) bool {
	u, err := url.Parse(uri)
	if err != nil {
		return false
	}
	for _, allowed := range s.opts.OAuth.RedirectURIs {
		a, err := url.Parse(allowed)
		if err != nil {
			continue
		}
		if uri == allowed || a.Hostname() == u.Hostname() && (a.Hostname() == "127.0.0.1" || a.Hostname() == "localhost") && a.Path == u.Path {
			return true
		}
	}
	return false
}

func (s *Server) authorize(rw *response, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != s.opts.OAuth.ClientID || s.opts.OAuth.ClientID == "" {
		http.Error(rw.w, "Authorization failed because the client_id is invalid", http.StatusBadRequest)
		return
	}
	redirect := q.Get("redirect_uri")
	if !s.redirectAllowed(redirect) {
		http.Error(rw.w, "Authorization failed because the redirect_uri does not match the app's settings", http.StatusBadRequest)
		return
	}
	code := newUUID()
	s.mu.Lock()
	s.oauth.codes[code] = grant{clientID: q.Get("client_id"), redirectURI: redirect, challenge: q.Get("code_challenge"), scopes: strings.Fields(q.Get("scope"))}
	s.mu.Unlock()
	u, _ := url.Parse(redirect)
	back := u.Query()
	back.Set("code", code)
	if st := q.Get("state"); st != "" {
		back.Set("state", st)
	}
	u.RawQuery = back.Encode()
	http.Redirect(rw.w, r, u.String(), http.StatusFound)
}

func (s *Server) tokenEndpoint(rw *response, r *http.Request) {
	if err := r.ParseForm(); err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		s.oauthError(rw, "BAD_REQUEST", "the token endpoint takes application/x-www-form-urlencoded parameters")
		return
	}
	f := r.PostForm
	clientID, secret := f.Get("client_id"), f.Get("client_secret")
	if id, sec, ok := r.BasicAuth(); ok {
		clientID, secret = id, sec
	}
	if clientID != s.opts.OAuth.ClientID || clientID == "" {
		s.oauthError(rw, "BAD_CLIENT_ID", "missing or unknown client id")
		return
	}
	if secret != s.opts.OAuth.ClientSecret {
		s.oauthError(rw, "BAD_CLIENT_SECRET", "missing or invalid client secret")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var g grant
	var refresh string
	switch f.Get("grant_type") {
	case "authorization_code":
		var ok bool
		g, ok = s.oauth.codes[f.Get("code")]
		if !ok {
			s.oauthError(rw, "BAD_AUTH_CODE", "missing or unknown auth code")
			return
		}
		delete(s.oauth.codes, f.Get("code")) // single use
		if g.redirectURI != f.Get("redirect_uri") {
			s.oauthError(rw, "BAD_REDIRECT_URI", "redirect_uri does not match the one used to authorize")
			return
		}
		if g.challenge != "" {
			sum := sha256.Sum256([]byte(f.Get("code_verifier")))
			if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
				s.oauthError(rw, "BAD_AUTH_CODE", "code_verifier does not match the code_challenge")
				return
			}
		}
		refresh = newUUID()
		s.oauth.refresh[refresh] = g
	case "refresh_token":
		refresh = f.Get("refresh_token")
		var ok bool
		g, ok = s.oauth.refresh[refresh]
		if !ok {
			s.oauthError(rw, "BAD_REFRESH_TOKEN", "missing or invalid refresh token")
			return
		}
		if g.clientID != clientID {
			s.oauthError(rw, "BAD_REFRESH_TOKEN", "refresh token was not issued to this client")
			return
		}
	default:
		s.oauthError(rw, "BAD_GRANT_TYPE", "unsupported grant_type "+strconv.Quote(f.Get("grant_type")))
		return
	}
	access := "CO" + strings.ReplaceAll(newUUID(), "-", "") + strings.ReplaceAll(newUUID(), "-", "")
	ttl := s.opts.OAuth.AccessTokenTTL
	s.tokens[access] = &token{limited: true, scopes: g.scopes, expires: s.now().Add(ttl)}
	rw.json(http.StatusOK, map[string]any{
		"token_type": "bearer", "access_token": access, "refresh_token": refresh,
		"expires_in": int(ttl.Seconds()), "token_use": "access_token", "hub_id": s.opts.PortalID, "scopes": g.scopes,
	})
}

// RevokeRefreshToken forgets a refresh token, as uninstalling the app does.
func (s *Server) RevokeRefreshToken(refresh string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.oauth.refresh, refresh)
}

func (s *Server) oauthError(rw *response, status, msg string) {
	rw.json(http.StatusBadRequest, map[string]string{"status": status, "message": msg, "correlationId": rw.correlationID})
}
