package hubspot_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/backflow-dev/backflow/api/hubspot"
	"github.com/backflow-dev/backflow/api/hubspot/hubspottest"
)

type oauthEnv struct {
	emu   *hubspottest.Server
	url   string
	cfg   hubspot.OAuthConfig
	store hubspot.FileStore
}

func newOAuthEnv(t *testing.T, ttl time.Duration) *oauthEnv {
	t.Helper()
	emu := hubspottest.New(hubspottest.Options{BurstLimit: 100_000, OAuth: hubspottest.OAuthApp{
		ClientID: "app-id", ClientSecret: "app-secret", RedirectURIs: []string{"http://localhost:0/oauth-callback"}, AccessTokenTTL: ttl,
	}})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return &oauthEnv{emu: emu, url: srv.URL, store: hubspot.FileStore{Path: filepath.Join(t.TempDir(), "auth", "hubspot-token.json")},
		cfg: hubspot.OAuthConfig{ClientID: "app-id", ClientSecret: "app-secret", Scopes: []string{"crm.objects.contacts.read", "oauth"},
			RedirectURL: "http://localhost:0/oauth-callback", AuthURL: srv.URL + "/oauth/authorize", TokenURL: srv.URL + "/oauth/v1/token"}}
}

// authorize plays the user's browser: it follows the authorize URL to the
// loopback callback.
func (e *oauthEnv) authorize(t *testing.T) *oauth2.Token {
	t.Helper()
	tok, err := hubspot.Authorize(context.Background(), e.cfg, func(u string) error {
		go func() {
			resp, err := http.Get(u)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.store.Save(tok); err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestOAuth_AuthorizeAndCall(t *testing.T) {
	e := newOAuthEnv(t, 30*time.Minute)
	tok := e.authorize(t)
	if tok.RefreshToken == "" || time.Until(tok.Expiry) < 29*time.Minute {
		t.Fatalf("token = %+v", tok)
	}
	fi, err := os.Stat(e.store.Path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	src, err := hubspot.NewOAuthTokenSource(e.cfg, e.store)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := hubspot.New(hubspot.Config{BaseURL: e.url, TokenSource: src})
	if _, _, err := c.ListPage(context.Background(), "contacts", hubspot.ListOptions{}, ""); err != nil {
		t.Fatal(err)
	}
	// The token carries only the granted scopes.
	var apiErr *hubspot.Error
	if _, _, err := c.ListPage(context.Background(), "deals", hubspot.ListOptions{}, ""); !errors.As(err, &apiErr) || apiErr.Category != "MISSING_SCOPES" {
		t.Fatalf("deals without the scope: %v", err)
	}
}

// Access tokens expire; the source refreshes ahead of expiry, persists the
// new token, and recovers from an EXPIRED_AUTHENTICATION it did not foresee.
func TestOAuth_RefreshOnExpiry(t *testing.T) {
	e := newOAuthEnv(t, 30*time.Minute)
	first := e.authorize(t)
	clock := time.Now()
	e.emu.SetClock(func() time.Time { return clock })
	src, err := hubspot.NewOAuthTokenSource(e.cfg, e.store)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := hubspot.New(hubspot.Config{BaseURL: e.url, TokenSource: src})
	ctx := context.Background()
	// The server's clock runs ahead: the token is expired there while the
	// client still thinks it valid, so HubSpot answers EXPIRED_AUTHENTICATION.
	clock = clock.Add(31 * time.Minute)
	if _, _, err := c.ListPage(ctx, "contacts", hubspot.ListOptions{}, ""); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	saved, _ := e.store.Load()
	if saved.AccessToken == first.AccessToken || saved.RefreshToken != first.RefreshToken {
		t.Fatalf("refreshed token not persisted: %+v", saved)
	}
}

func TestOAuth_BadRefreshToken(t *testing.T) {
	e := newOAuthEnv(t, time.Second)
	tok := e.authorize(t)
	e.emu.RevokeRefreshToken(tok.RefreshToken)
	tok.Expiry = time.Now().Add(-time.Hour)
	e.store.Save(tok)
	src, err := hubspot.NewOAuthTokenSource(e.cfg, e.store)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := hubspot.New(hubspot.Config{BaseURL: e.url, TokenSource: src})
	_, _, err = c.ListPage(context.Background(), "contacts", hubspot.ListOptions{}, "")
	if !errors.Is(err, hubspot.ErrReauthorize) || !strings.Contains(err.Error(), "backflow auth hubspot") {
		t.Fatalf("err = %v", err)
	}
}

func TestOAuth_StateMismatchRefused(t *testing.T) {
	e := newOAuthEnv(t, time.Minute)
	_, err := hubspot.Authorize(context.Background(), e.cfg, func(u string) error {
		go func() {
			// A forged callback with another state reaches the listener first.
			parsed, _ := http.NewRequest("GET", u, nil)
			redirect := parsed.URL.Query().Get("redirect_uri")
			resp, err := http.Get(redirect + "?code=stolen&state=forged")
			if err == nil {
				resp.Body.Close()
			}
		}()
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "state does not match") {
		t.Fatalf("err = %v", err)
	}
}

func TestOAuth_NoStoredToken(t *testing.T) {
	_, err := hubspot.NewOAuthTokenSource(hubspot.OAuthConfig{}, hubspot.FileStore{Path: filepath.Join(t.TempDir(), "none.json")})
	if err == nil || !strings.Contains(err.Error(), "backflow auth hubspot") {
		t.Fatalf("err = %v", err)
	}
}
