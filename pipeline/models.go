package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/models"
	"github.com/backflow-dev/backflow/warehouse"
)

// Models loads the project's models (and the shipped ones they read),
// orders them by dependency and applies the selectors.
func Models(ctx context.Context, w *warehouse.Warehouse, p *Project, selectors []string) ([]models.Model, error) {
	ms, err := p.models()
	if err != nil {
		return nil, err
	}
	ordered, err := models.Resolve(ctx, w.DB(), ms)
	if err != nil {
		return nil, err
	}
	return models.Select(ordered, selectors)
}

// models are the project's models and, when it has both HubSpot and
// Pendo, the shipped identity models it does not define itself.
func (p *Project) models() ([]models.Model, error) {
	ms, err := models.Load(p.FS, "models", p.Identity)
	if err != nil || p.IdentityModels {
		return ms, err
	}
	return slices.DeleteFunc(ms, func(m models.Model) bool { return m.Shipped }), nil
}

// DataTests are the tests declared beside the ordered models and, with
// withSQL, the project's tests/*.sql.
func DataTests(p *Project, ordered []models.Model, withSQL bool) ([]models.Test, error) {
	var tests []models.Test
	for _, m := range ordered {
		tests = append(tests, m.Tests...)
	}
	if !withSQL {
		return tests, nil
	}
	sqlTests, err := models.SQLTests(p.FS, "tests")
	if err != nil {
		return nil, err
	}
	return append(tests, sqlTests...), nil
}

// testModels runs the data tests of the ordered models (and, with withSQL,
// tests/*.sql) and returns their results and the models they make unfit to
// sync, with the reason (see models.Blocked).
func testModels(ctx context.Context, w *warehouse.Warehouse, p *Project, ordered []models.Model, withSQL bool, log *slog.Logger) ([]models.TestResult, map[string]string, error) {
	tests, err := DataTests(p, ordered, withSQL)
	if err != nil {
		return nil, nil, err
	}
	results := models.RunTests(ctx, w.DB(), tests)
	for _, t := range results {
		switch {
		case t.Err != nil:
			log.Warn("data test could not run", "test", t.Test.Name, "file", t.Test.File, "err", t.Err.Error())
		case t.Failures > 0:
			log.Warn("data test failed", "test", t.Test.Name, "file", t.Test.File, "failing_rows", t.Failures)
		}
	}
	blocked, err := models.Blocked(ctx, w.DB(), ordered, results)
	return results, blocked, err
}

// checkSyncModels refuses a sync whose model has no file (project or
// shipped): a view of that name left in the DuckDB file by an earlier run
// would otherwise go on feeding the destination after its SQL was deleted.
func checkSyncModels(p *Project) error {
	ms, err := p.models()
	if err != nil {
		return err
	}
	for _, s := range p.Syncs {
		if !slices.ContainsFunc(ms, func(m models.Model) bool { return m.Name == s.Spec.Model }) {
			return &models.FileError{File: s.Spec.File, Err: fmt.Errorf("model: no model %q: there is no models/%s.sql (a table or view of that name left in the DuckDB file is not used)", s.Spec.Model, s.Spec.Model)}
		}
	}
	return nil
}

// checkSyncs refuses --sync names the project does not have.
func checkSyncs(p *Project, names []string) error {
	var have []string
	for _, s := range p.Syncs {
		have = append(have, s.Spec.Name)
	}
	for _, n := range names {
		if !slices.Contains(have, n) {
			return &models.FileError{File: "syncs/" + n + ".yml", Err: fmt.Errorf("no such sync (the project has: %s)", strings.Join(have, ", "))}
		}
	}
	return nil
}

// stopping returns a context canceled when stop closes (or ctx is done),
// for the work that can be dropped and redone: reads, builds and plans.
func stopping(ctx context.Context, stop <-chan struct{}) (context.Context, context.CancelFunc) {
	soft, cancel := context.WithCancel(ctx)
	if stop != nil {
		go func() {
			select {
			case <-stop:
				cancel()
			case <-soft.Done():
			}
		}()
	}
	return soft, cancel
}

// stopped turns the cancellation a Stop caused into load.ErrStopped.
func stopped(err error, stop <-chan struct{}) error {
	if err == nil || errors.Is(err, load.ErrStopped) || !errors.Is(err, context.Canceled) {
		return err
	}
	select {
	case <-stop:
		return fmt.Errorf("%w (%v)", load.ErrStopped, err)
	default:
		return err
	}
}
