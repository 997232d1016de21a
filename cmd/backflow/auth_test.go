package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/backflow-dev/backflow/sandbox"
)

// TestAuthHubSpot runs the OAuth flow against the sandbox, with the test
// as the browser, then a run that authenticates with the stored token.
func TestAuthHubSpot(t *testing.T) {
	sb, err := testSandbox(sandbox.Options{Contacts: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "models"), 0o755)
	os.WriteFile(filepath.Join(dir, "backflow.yml"), []byte(`hubspot:
  base_url: `+sb.HubSpotURL+`
  oauth:
    client_id: `+sandbox.OAuthClientID+`
    redirect_url: http://localhost:0/oauth-callback
    scopes: [crm.objects.contacts.read, crm.schemas.contacts.read]
  extract:
    objects: [contacts]
`), 0o644)
	env := map[string]string{"HUBSPOT_CLIENT_SECRET": sandbox.OAuthClientSecret}

	pr, pw := io.Pipe()
	go func() { // the browser: follow the printed consent URL
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "http") {
				if resp, err := http.Get(line); err == nil {
					resp.Body.Close()
				}
			}
		}
	}()
	var out strings.Builder
	code := Main([]string{"auth", "hubspot", "--project", dir, "--no-browser"}, IO{In: strings.NewReader(""), Out: &out, ErrOut: pw},
		func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	pw.Close()
	if code != 0 {
		t.Fatalf("auth exit %d: %s", code, out.String())
	}
	tokenFile := filepath.Join(dir, ".backflow", "hubspot-token.json")
	if fi, err := os.Stat(tokenFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	code, stdout, stderr := run(t, env, "run", "--project", dir, "--json")
	var sum struct {
		Staged int `json:"staged"`
	}
	json.Unmarshal([]byte(stdout), &sum)
	if code != 0 || sum.Staged < 50 {
		t.Fatalf("run with OAuth: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// No secret reaches the DuckDB file.
	db, _ := os.ReadFile(filepath.Join(dir, "warehouse.duckdb"))
	if strings.Contains(string(db), sandbox.OAuthClientSecret) {
		t.Error("the client secret is in the DuckDB file")
	}
}
