package warehouse_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/backflow-dev/backflow/warehouse"
	"github.com/backflow-dev/backflow/warehouse/warehousetest"
)

func TestMain(m *testing.M) {
	warehousetest.MaybeHold()
	os.Exit(m.Run())
}

func TestOpen_WaitsForTheLock(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.duckdb")
	pid, release := warehousetest.Hold(t, path)

	start := time.Now()
	_, err := warehouse.Open(ctx, path, warehouse.Options{LockTimeout: 600 * time.Millisecond})
	waited := time.Since(start)
	var le *warehouse.LockError
	if !errors.As(err, &le) || !errors.Is(err, warehouse.ErrLocked) {
		t.Fatalf("err = %v, want a LockError", err)
	}
	if waited < 600*time.Millisecond {
		t.Fatalf("gave up after %s, before the 600ms timeout", waited)
	}
	for _, want := range []string{"PID " + strconv.Itoa(pid), "--lock-timeout", "--publish", "w.duckdb"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the message does not say %q: %v", want, err)
		}
	}
	// A reader is shut out by a writer too.
	if _, err := warehouse.Open(ctx, path, warehouse.Options{ReadOnly: true}); !errors.Is(err, warehouse.ErrLocked) {
		t.Fatalf("read-only open while held: %v", err)
	}

	// The holder lets go while we wait: the open succeeds.
	time.AfterFunc(400*time.Millisecond, release)
	w, err := warehouse.Open(ctx, path, warehouse.Options{LockTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("open after the holder let go: %v", err)
	}
	w.Close()
}

func TestPublish(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "warehouse.duckdb"), filepath.Join(dir, "analytics.duckdb")
	w, err := warehouse.Open(ctx, src, warehouse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.DB().Exec(`CREATE TABLE models.t AS SELECT 42 AS answer; CREATE VIEW models.v AS SELECT normalize_email(' A@B.com ') AS e FROM models.t`); err != nil {
		t.Fatal(err)
	}
	w.Close()
	for i := 0; i < 2; i++ { // the second publish replaces the first
		if err := warehouse.Publish(ctx, src, dst, time.Second, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	pub, err := warehouse.Open(ctx, dst, warehouse.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	var answer int
	var email string
	if err := pub.DB().QueryRow(`SELECT answer FROM models.t`).Scan(&answer); err != nil || answer != 42 {
		t.Fatalf("published table: %d %v", answer, err)
	}
	if err := pub.DB().QueryRow(`SELECT e FROM models.v`).Scan(&email); err != nil || email != "a@b.com" {
		t.Fatalf("published view with a shipped macro: %q %v", email, err)
	}
	if err := warehouse.Publish(ctx, src, src, time.Second, 0); err == nil {
		t.Fatal("publishing a file onto itself")
	}
	if _, err := os.Stat(dst + ".tmp"); !os.IsNotExist(err) {
		t.Fatalf("a temporary file was left: %v", err)
	}
}
