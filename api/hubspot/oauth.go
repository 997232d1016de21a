package hubspot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/backflow-dev/backflow/api/wire"
)

// HubSpot's OAuth endpoints.
const (
	DefaultAuthURL  = "https://app.hubspot.com/oauth/authorize"
	DefaultTokenURL = "https://api.hubapi.com/oauth/v1/token"
	// DefaultRedirectURL must be registered in the app's settings.
	DefaultRedirectURL = "http://localhost:8976/oauth-callback"
)

// ErrReauthorize is returned when HubSpot refuses the stored refresh token
// (revoked, app uninstalled, or issued to another client id).
var ErrReauthorize = errors.New("hubspot: HubSpot refused the stored refresh token; run `backflow auth hubspot` again")

// OAuthConfig is a HubSpot public app.
type OAuthConfig struct {
	ClientID     string
	ClientSecret string
	Scopes       []string
	// RedirectURL is a loopback URL registered in the app; the flow listens
	// on its host and port. Default DefaultRedirectURL.
	RedirectURL string
	// AuthURL and TokenURL default to HubSpot's.
	AuthURL, TokenURL string
	// HTTPClient is used for token calls; nil uses one with a 60 s
	// timeout. Redirects are never followed.
	HTTPClient *http.Client
}

func (c OAuthConfig) config() *oauth2.Config {
	cfg := &oauth2.Config{
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, Scopes: c.Scopes, RedirectURL: c.RedirectURL,
		Endpoint: oauth2.Endpoint{AuthURL: c.AuthURL, TokenURL: c.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
	}
	if cfg.RedirectURL == "" {
		cfg.RedirectURL = DefaultRedirectURL
	}
	if cfg.Endpoint.AuthURL == "" {
		cfg.Endpoint.AuthURL = DefaultAuthURL
	}
	if cfg.Endpoint.TokenURL == "" {
		cfg.Endpoint.TokenURL = DefaultTokenURL
	}
	return cfg
}

// ctx carries the HTTP client for token calls: never following a
// redirect, since the client secret and refresh token ride in the body.
func (c OAuthConfig) ctx(ctx context.Context) context.Context {
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	return context.WithValue(ctx, oauth2.HTTPClient, wire.NoRedirects(hc))
}

// TokenStore keeps OAuth tokens between runs.
type TokenStore interface {
	// Load returns the stored token; an error wrapping fs.ErrNotExist
	// when there is none.
	Load() (*oauth2.Token, error)
	// Save replaces the stored token.
	Save(*oauth2.Token) error
}

// FileStore stores tokens as JSON in a file readable only by its owner
// (mode 0600), written atomically.
type FileStore struct{ Path string }

// Load implements TokenStore.
func (f FileStore) Load() (*oauth2.Token, error) {
	raw, err := os.ReadFile(f.Path)
	if err != nil {
		return nil, err
	}
	var t oauth2.Token
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("hubspot: token file %s: %w", f.Path, err)
	}
	return &t, nil
}

// Save implements TokenStore.
func (f FileStore) Save(t *oauth2.Token) error {
	raw, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(f.Path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.Path), ".hubspot-token-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), f.Path)
}

// OAuthTokenSource supplies access tokens from a stored refresh token,
// refreshing a minute before expiry (HubSpot's tokens live 30 minutes) and
// whenever HubSpot answers EXPIRED_AUTHENTICATION, and saving every
// refreshed token. It is safe for concurrent use; concurrent callers share
// one refresh.
type OAuthTokenSource struct {
	cfg   OAuthConfig
	store TokenStore
	now   func() time.Time

	mu  sync.Mutex
	tok *oauth2.Token
}

var _ TokenSource = (*OAuthTokenSource)(nil)

// NewOAuthTokenSource loads the stored token.
func NewOAuthTokenSource(cfg OAuthConfig, store TokenStore) (*OAuthTokenSource, error) {
	tok, err := store.Load()
	if errors.Is(err, os.ErrNotExist) {
		return nil, errors.New("hubspot: no stored OAuth authorization; run `backflow auth hubspot` first")
	}
	if err != nil {
		return nil, err
	}
	if tok.RefreshToken == "" {
		return nil, ErrReauthorize
	}
	return &OAuthTokenSource{cfg: cfg, store: store, tok: tok, now: time.Now}, nil
}

// expiryMargin refreshes tokens this long before they expire.
const expiryMargin = time.Minute

// Token implements TokenSource.
func (s *OAuthTokenSource) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tok.AccessToken != "" && s.now().Add(expiryMargin).Before(s.tok.Expiry) {
		return s.tok.AccessToken, nil
	}
	return s.refreshLocked(ctx)
}

// Refresh implements TokenSource.
func (s *OAuthTokenSource) Refresh(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshLocked(ctx)
}

func (s *OAuthTokenSource) refreshLocked(ctx context.Context) (string, error) {
	// A token with only the refresh token set forces a refresh.
	src := s.cfg.config().TokenSource(s.cfg.ctx(ctx), &oauth2.Token{RefreshToken: s.tok.RefreshToken})
	nt, err := src.Token()
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode == http.StatusBadRequest &&
			(strings.Contains(string(re.Body), "BAD_REFRESH_TOKEN") || strings.Contains(string(re.Body), "BAD_CLIENT_ID") || re.ErrorCode == "invalid_grant") {
			return "", fmt.Errorf("%w (%s)", ErrReauthorize, strings.TrimSpace(string(re.Body)))
		}
		return "", fmt.Errorf("hubspot: refresh OAuth token: %w", err)
	}
	if nt.RefreshToken == "" {
		nt.RefreshToken = s.tok.RefreshToken
	}
	if err := s.store.Save(nt); err != nil {
		return "", fmt.Errorf("hubspot: save refreshed OAuth token: %w", err)
	}
	s.tok = nt
	return nt.AccessToken, nil
}

// Authorize runs the authorization-code flow with PKCE: it listens on the
// redirect URL's loopback address, calls open with the URL the user must
// visit, checks the state parameter of the callback, exchanges the code
// and returns the token. It stops when ctx is done.
func Authorize(ctx context.Context, cfg OAuthConfig, open func(authURL string) error) (*oauth2.Token, error) {
	oc := cfg.config()
	redirect, err := url.Parse(oc.RedirectURL)
	if err != nil || redirect.Scheme != "http" || (redirect.Hostname() != "localhost" && redirect.Hostname() != "127.0.0.1") {
		return nil, fmt.Errorf("hubspot: redirect URL %q must be an http://localhost or http://127.0.0.1 URL", oc.RedirectURL)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", redirect.Port()))
	if err != nil {
		return nil, fmt.Errorf("hubspot: listen for the OAuth redirect on %s: %w", redirect.Host, err)
	}
	defer ln.Close()
	if redirect.Port() == "" || redirect.Port() == "0" {
		redirect.Host = net.JoinHostPort(redirect.Hostname(), fmt.Sprint(ln.Addr().(*net.TCPAddr).Port))
		oc.RedirectURL = redirect.String()
	}

	var b [16]byte
	rand.Read(b[:])
	state := hex.EncodeToString(b[:])
	verifier := oauth2.GenerateVerifier()

	type outcome struct {
		tok *oauth2.Token
		err error
	}
	done := make(chan outcome, 1)
	mux := http.NewServeMux()
	mux.HandleFunc(redirect.Path, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var res outcome
		switch {
		case q.Get("state") != state:
			res.err = errors.New("hubspot: the OAuth callback's state does not match; the authorization was not started by this command")
		case q.Get("error") != "":
			res.err = fmt.Errorf("hubspot: authorization refused: %s %s", q.Get("error"), q.Get("error_description"))
		case q.Get("code") == "":
			res.err = errors.New("hubspot: the OAuth callback carried no code")
		default:
			res.tok, res.err = oc.Exchange(cfg.ctx(r.Context()), q.Get("code"), oauth2.VerifierOption(verifier))
			if res.err != nil {
				res.err = fmt.Errorf("hubspot: exchange the authorization code: %w", res.err)
			}
		}
		if res.err != nil {
			http.Error(w, "backflow: "+html.EscapeString(res.err.Error()), http.StatusBadRequest)
		} else {
			fmt.Fprint(w, "<html><body><h1>backflow is authorized.</h1><p>You can close this tab.</p></body></html>")
		}
		select {
		case done <- res:
		default:
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	if err := open(oc.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier))); err != nil {
		return nil, err
	}
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("hubspot: waiting for the OAuth redirect: %w", ctx.Err())
	case res := <-done:
		return res.tok, res.err
	}
}
