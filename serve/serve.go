// Package serve is backflow's long-running mode: one process that owns a
// project's DuckDB file, stores webhook deliveries durably before it
// acknowledges them (backflow.changes), and runs cycles — a run of the
// streams the queued changes touch, a poll of every stream at an
// interval, a full run on a schedule — so the destinations follow the
// sources within seconds, with every guarantee of a batch run. It serves
// /hooks/<connector>, /healthz, /readyz, /metrics and POST /run.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/backflow-dev/backflow/connector"
	"github.com/backflow-dev/backflow/load"
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
	// Poll is how often a cycle reads every stream for what changed
	// (HubSpot search, Pendo reads since the cursor); 0 polls never, and
	// only webhooks and full runs move data.
	Poll time.Duration
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
	s := &Server{o: o, log: log, w: w, queue: q, receivers: receivers, runNow: make(chan struct{}, 1)}
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
	if err := s.cycle(ctx, "full"); err != nil && errors.Is(err, load.ErrStopped) {
		return nil
	}
	s.ready.Store(true)
	for {
		next := s.lastFull.Add(s.o.Full)
		kind := "full"
		if s.o.Poll > 0 && s.lastPoll.Add(s.o.Poll).Before(next) {
			next, kind = s.lastPoll.Add(s.o.Poll), "poll"
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
	if kind == "changes" && taken.Changes == 0 {
		return nil
	}
	po := s.o.Pipeline
	po.Warehouse, po.Command, po.Stop = s.w, "serve", s.o.Stop
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
	default:
		s.lastFull, s.lastPoll = start, start
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
	end := s.o.Now()
	if !taken.Oldest.IsZero() {
		s.m.lag.Observe(max(end.Sub(taken.Oldest), 0).Seconds())
	}
	s.m.cycles.WithLabelValues(kind, "ok").Inc()
	s.m.lastOK.Set(float64(end.Unix()))
	t := res.Totals()
	s.log.Info("cycle", "kind", kind, "changes", taken.Changes, "streams", po.Only, "staged", res.Staged(), "applied", t.Applied,
		"failed", t.Failed, "duration", took.Round(time.Millisecond))
	return nil
}

func (s *Server) failed(kind string, err error) error {
	outcome := "error"
	if errors.Is(err, load.ErrStopped) {
		outcome = "stopped"
	} else {
		s.m.errors.WithLabelValues(kind).Inc()
		s.log.Error("cycle failed; its changes stay queued for the next", "kind", kind, "err", err)
	}
	s.m.cycles.WithLabelValues(kind, outcome).Inc()
	return err
}
