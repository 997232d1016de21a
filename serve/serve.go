// Package serve is backflow's long-running mode: one process that owns a
// project's DuckDB file, stores webhook deliveries durably before it
// acknowledges them (backflow.changes), and runs cycles — a run of the
// streams the queued changes touch, a poll of every stream at an
// interval, a full run on a schedule — so the destinations follow the
// sources within seconds, with every guarantee of a batch run. It serves
// /hooks/<connector>, /healthz, /readyz, /metrics and POST /run.
package serve

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/backflow-dev/backflow/connector"
	"github.com/backflow-dev/backflow/extract"
	"github.com/backflow-dev/backflow/load"
	"github.com/backflow-dev/backflow/models"
	"github.com/backflow-dev/backflow/pipeline"
	"github.com/backflow-dev/backflow/warehouse"
)

// Options configures a serve process.
type Options struct {
	// Pipeline is the project as a run takes it (secrets, clock, logger,
	// lock timeout); serve sets its Warehouse, Only, Stop and Command.
	Pipeline pipeline.Options
	// Listener is where the HTTP endpoints are served.
	Listener net.Listener
	// PublicURL is the address webhook senders call (scheme and host,
	// "https://backflow.example.com"), which HubSpot's signature covers;
	// empty takes http:// and the request's Host.
	PublicURL string
	// Poll is how often serve probes the sources for changes (HubSpot: a
	// search per object for a record modified after the last one staged)
	// and runs the streams that changed; 0 polls never, and only webhooks
	// and full runs move data. The interval stretches so that probing
	// spends at most PollBudget of the API's daily budget.
	Poll time.Duration
	// PollBudget is the share of the daily API budget idle probing may
	// spend. Default 0.015 (1.5%).
	PollBudget float64
	// Full is how often a full cycle runs every stream and sync whatever
	// the webhooks said, catching up what they missed. Default 1 h.
	Full time.Duration
	// Debounce is how long a cycle waits after a change for the ones
	// that come with it (HubSpot batches changes close together).
	// Default 1 s.
	Debounce time.Duration
	// Queue bounds the change queue.
	Queue QueueOptions
	// Retention is how long done changes are kept, deduplicating late
	// retries. Default 48 h.
	Retention time.Duration
	// MaxBody bounds a delivery's body. Default 1 MiB.
	MaxBody int64
	// RetryDelay is how long after a failed cycle its changes are taken
	// again, whether or not another delivery comes. Default 30 s.
	RetryDelay time.Duration
	// Publish, when set, is where a read-only copy of the file is written
	// for analysts, after the first cycle and then after a cycle at most
	// every PublishEvery (default 15 min), replaced atomically.
	Publish      string
	PublishEvery time.Duration
	PublishMode  os.FileMode
	// Stop, once closed, ends serve gracefully: no new delivery is
	// taken, the cycle in flight finishes its batch, and Run returns nil.
	Stop <-chan struct{}
	// Now is the present; default the system clock.
	Now func() time.Time
	// After makes a timer; default time.After. Tests drive cycles with it.
	After func(time.Duration) <-chan time.Time
}

// Server is a running serve process.
type Server struct {
	o         Options
	log       *slog.Logger
	w         *warehouse.Warehouse
	queue     *Queue
	receivers map[string]connector.Receiver
	m         *metrics
	runNow    chan struct{}
	ready     atomic.Bool
	lastFull  time.Time
	lastPoll  time.Time
	// probers are sources kept across polls, described at each full
	// cycle; interval is the poll interval the last probe's budget set.
	probers  []extract.Prober
	interval time.Duration
	// published is when the analysts' copy was last written; retry, when
	// set, when a failed cycle's changes are taken again.
	published time.Time
	retry     time.Time
}

// Run serves until Stop is closed (nil) or ctx is canceled (its error).
func Run(ctx context.Context, o Options) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	if o.Full <= 0 {
		o.Full = time.Hour
	}
	if o.Debounce <= 0 {
		o.Debounce = time.Second
	}
	if o.Retention <= 0 {
		o.Retention = 48 * time.Hour
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 1 << 20
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = 30 * time.Second
	}
	if o.PublishEvery <= 0 {
		o.PublishEvery = 15 * time.Minute
	}
	if o.PollBudget <= 0 || o.PollBudget > 1 {
		o.PollBudget = 0.015
	}
	o.Queue.Now = o.Now
	o.Pipeline.Now = o.Now
	log := o.Pipeline.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	receivers, err := o.Pipeline.Receivers()
	if err != nil {
		return err
	}
	base := strings.TrimSuffix(o.PublicURL, "/")
	if base == "" {
		base = "http://" + o.Listener.Addr().String()
	}
	w, err := o.Pipeline.OpenWarehouse(ctx, fmt.Sprintf("It is backflow serve's, at %s: ask it for a run with curl -X POST %s/run "+
		"(serve runs every sync on its own schedule), or stop serve first", base, base))
	if err != nil {
		return err
	}
	defer w.Close()
	q, err := NewQueue(ctx, w, o.Queue)
	if err != nil {
		return err
	}
	s := &Server{o: o, log: log, w: w, queue: q, receivers: receivers, runNow: make(chan struct{}, 1), interval: o.Poll}
	s.m = newMetrics(func() float64 { return float64(q.Queued()) })
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(o.Listener) }()
	names := slices.Sorted(func(yield func(string) bool) {
		for n := range receivers {
			if !yield(n) {
				return
			}
		}
	})
	log.Info("serving", "addr", o.Listener.Addr().String(), "hooks", names, "poll", o.Poll, "full", o.Full)

	err = s.loop(ctx)
	// Deliveries in flight are stored (or refused) before the queue closes.
	shut, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	serr := srv.Shutdown(shut)
	q.Close()
	if serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, fmt.Errorf("serve: shut down the HTTP server: %w", serr))
	}
	select {
	case e := <-served:
		if e != nil && !errors.Is(e, http.ErrServerClosed) {
			err = errors.Join(err, fmt.Errorf("serve: %w", e))
		}
	default:
	}
	return err
}

// loop runs cycles until Stop or ctx: a full one first (it also redoes
// what a killed process left queued), then on changes, polls and the
// full schedule.
func (s *Server) loop(ctx context.Context) error {
	if err := s.cycle(ctx, "full"); errors.Is(err, load.ErrStopped) {
		return nil
	}
	for {
		next := s.lastFull.Add(s.o.Full)
		kind := "full"
		if s.o.Poll > 0 && s.lastPoll.Add(s.interval).Before(next) {
			next, kind = s.lastPoll.Add(s.interval), "poll"
		}
		if !s.retry.IsZero() && s.retry.Before(next) {
			next, kind = s.retry, "changes"
		}
		wait := max(next.Sub(s.o.Now()), 0)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.o.Stop:
			return nil
		case <-s.queue.Notify():
			// More changes usually follow: wait a moment for them.
			select {
			case <-s.o.After(s.o.Debounce):
			case <-s.o.Stop:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
			kind = "changes"
		case <-s.runNow:
			kind = "full"
		case <-s.o.After(wait):
		}
		if err := s.cycle(ctx, kind); errors.Is(err, load.ErrStopped) {
			return nil
		} else if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return ctx.Err()
		}
		if _, err := s.queue.Prune(ctx, s.o.Now().Add(-s.o.Retention)); err != nil {
			s.log.Warn("prune changes", "err", err)
		}
	}
}

// cycle runs one cycle. Its changes are done only when the run
// succeeded; otherwise the next cycle takes them again.
func (s *Server) cycle(ctx context.Context, kind string) error {
	start := s.o.Now()
	id := uuid.Must(uuid.NewV7()).String()
	taken, err := s.queue.Take(ctx, id)
	if err != nil {
		return s.failed(kind, err)
	}
	if kind == "changes" {
		s.retry = time.Time{}
		if taken.Changes == 0 {
			return nil
		}
	}
	po := s.o.Pipeline
	po.Warehouse, po.Command, po.Stop = s.w, "serve", s.o.Stop
	// Between full cycles, a sync of an incremental model plans only the
	// rows its build recomputed.
	po.PlanRecomputed = kind != "full"
	switch kind {
	case "changes":
		// The records the changes name are read by id (where the source
		// can): a search would trail the change by seconds.
		po.Keys = taken.Records
		for stream := range taken.Records {
			po.Only = append(po.Only, stream)
		}
		slices.Sort(po.Only)
		if len(po.Only) == 0 {
			// Only changes no stream stages (an unknown Pendo event):
			// nothing to read, but the models and syncs still run.
			po.SkipExtract = true
		}
	case "poll":
		s.lastPoll = start
		changed, err := s.probe(ctx)
		if err != nil {
			return s.failed(kind, err)
		}
		if len(changed) == 0 && taken.Changes == 0 {
			s.m.cycles.WithLabelValues(kind, "idle").Inc()
			return nil
		}
		// Streams the probe found changed are read from their cursors
		// (which covers their queued records too); the others' queued
		// records by key.
		po.Keys = map[string][]string{}
		for stream, ids := range taken.Records {
			if !slices.Contains(changed, stream) {
				po.Keys[stream] = ids
			}
		}
		po.Only = slices.Concat(changed, slices.Collect(maps.Keys(po.Keys)))
		slices.Sort(po.Only)
		if len(po.Only) == 0 {
			po.SkipExtract = true
		}
	default:
		s.lastFull, s.lastPoll = start, start
		// Incremental models are rebuilt whole: rows gone at the source
		// leave them.
		po.RebuildModels = true
	}
	res, err := pipeline.Run(ctx, po)
	for _, r := range res.Syncs {
		s.m.rowsSent.WithLabelValues(r.Sync).Add(float64(r.Applied))
		s.m.rowsFailed.WithLabelValues(r.Sync).Add(float64(r.Failed + r.Rejected))
	}
	took := s.o.Now().Sub(start)
	s.m.cycleTime.Observe(took.Seconds())
	if err != nil {
		return s.failed(kind, err)
	}
	if err := s.queue.Done(ctx, id); err != nil {
		return s.failed(kind, err)
	}
	if kind == "full" && s.o.Poll > 0 {
		// The probes describe the streams anew (a property added, an
		// object configured) once per full cycle, not per poll.
		if err := s.describeProbers(ctx); err != nil {
			s.log.Warn("poll probes not described; polling waits for the next full cycle", "err", err)
			s.probers = nil
		}
	}
	end := s.o.Now()
	if s.o.Publish != "" && (s.published.IsZero() || end.Sub(s.published) >= s.o.PublishEvery) {
		// A copy that cannot be written is logged; the cycle's work stands.
		if err := s.w.PublishTo(ctx, s.o.Publish, s.o.PublishMode); err != nil {
			s.log.Error("publish", "path", s.o.Publish, "err", err)
		} else {
			s.published = end
			s.m.published.Set(float64(end.Unix()))
			s.log.Info("published", "path", s.o.Publish)
		}
	}
	if !taken.Oldest.IsZero() {
		s.m.lag.Observe(max(end.Sub(taken.Oldest), 0).Seconds())
	}
	s.m.cycles.WithLabelValues(kind, "ok").Inc()
	s.m.lastOK.Set(float64(end.Unix()))
	if kind == "full" {
		s.ready.Store(true)
	}
	t := res.Totals()
	s.log.Info("cycle", "kind", kind, "changes", taken.Changes, "streams", po.Only, "staged", res.Staged(), "applied", t.Applied,
		"failed", t.Failed, "duration", took.Round(time.Millisecond), "slowest_models", slowest(res.Models, 3))
	return nil
}

func (s *Server) failed(kind string, err error) error {
	outcome := "error"
	if errors.Is(err, load.ErrStopped) {
		outcome = "stopped"
	} else {
		switch kind {
		case "full":
			// Retried in a minute, not at the next scheduled one: a full
			// cycle is what readiness and the probes wait for.
			s.lastFull = s.o.Now().Add(min(time.Minute, s.o.Full) - s.o.Full)
		case "changes", "poll":
			// Its changes stay queued: taken again after RetryDelay,
			// whether or not another delivery comes.
			s.retry = s.o.Now().Add(s.o.RetryDelay)
		}
		s.m.errors.WithLabelValues(kind).Inc()
		s.log.Error("cycle failed; its changes stay queued for the next", "kind", kind, "err", err)
	}
	s.m.cycles.WithLabelValues(kind, outcome).Inc()
	return err
}

// describeProbers opens the sources that can probe and describes their
// streams.
func (s *Server) describeProbers(ctx context.Context) error {
	sources, err := s.o.Pipeline.Sources()
	if err != nil {
		return err
	}
	var out []extract.Prober
	for _, src := range sources {
		p, ok := src.(extract.Prober)
		if !ok {
			continue
		}
		if _, err := src.Streams(ctx); err != nil {
			return fmt.Errorf("%s: %w", src.Name(), err)
		}
		out = append(out, p)
	}
	s.probers = out
	return nil
}

// probe asks each prober what changed after the watermarks, and
// stretches the poll interval so that probing spends at most PollBudget
// of the daily budget the API reports.
func (s *Server) probe(ctx context.Context) ([]string, error) {
	marks, err := extract.Watermarks(ctx, s.w)
	if err != nil {
		return nil, err
	}
	var changed []string
	for _, p := range s.probers {
		res, err := p.Probe(ctx, marks)
		if err != nil {
			return nil, err
		}
		changed = append(changed, res.Changed...)
		if res.DailyLimit > 0 {
			s.m.budget.Set(float64(res.DailyLeft))
			need := time.Duration(float64(res.Calls) * float64(24*time.Hour) / (s.o.PollBudget * float64(res.DailyLimit)))
			if res.DailyLeft >= 0 && res.DailyLeft < res.DailyLimit/20 {
				// Under 5% left: leave it to the syncs; full runs still come.
				need = s.o.Full
			}
			if interval := max(s.o.Poll, need); interval != s.interval {
				s.log.Info("poll interval set by the daily budget", "interval", interval.Round(time.Second), "calls_per_probe", res.Calls,
					"daily_limit", res.DailyLimit, "daily_left", res.DailyLeft, "budget_share", s.o.PollBudget)
				s.interval = interval
			}
			s.m.interval.Set(s.interval.Seconds())
		}
	}
	slices.Sort(changed)
	return slices.Compact(changed), nil
}

// slowest names the n models that took longest to build, with how they
// were built: what bounds a cycle's time (a table rebuilt whole each
// cycle is the one to make incremental).
func slowest(ms []models.Result, n int) []string {
	ms = slices.Clone(ms)
	slices.SortFunc(ms, func(a, b models.Result) int { return cmp.Compare(b.Duration, a.Duration) })
	var out []string
	for _, m := range ms[:min(n, len(ms))] {
		out = append(out, fmt.Sprintf("%s (%s, %s)", m.Model, m.Materialized, m.Duration.Round(time.Millisecond)))
	}
	return out
}
