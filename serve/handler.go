package serve

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/backflow-dev/backflow/connector"
)

// Handler serves serve's endpoints:
//
//	POST /hooks/{connector}  a webhook delivery: 200 once stored, 401 not
//	                         the system's, 400 malformed, 413 too large,
//	                         503 + Retry-After when the queue is full
//	GET  /healthz            200 while the process runs
//	GET  /readyz             200 once a full cycle has succeeded, 503
//	                         before and while stopping
//	GET  /metrics            Prometheus
//	POST /run                a full cycle, as soon as the one in flight ends
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hooks/{name}", s.hook)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-s.o.Stop:
			reply(w, http.StatusServiceUnavailable, map[string]string{"status": "stopping"})
			return
		default:
		}
		if !s.ready.Load() {
			reply(w, http.StatusServiceUnavailable, map[string]string{"status": "starting: no full cycle has succeeded yet"})
			return
		}
		reply(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("POST /run", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case s.runNow <- struct{}{}:
		default: // one is already asked for
		}
		reply(w, http.StatusAccepted, map[string]string{"status": "a full cycle runs next"})
	})
	return mux
}

// hook stores a delivery's changes before it answers 200. Nothing about
// the request is logged but its connector, size and outcome: a Pendo
// webhook's URL carries its token.
func (s *Server) hook(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	rec, ok := s.receivers[name]
	if !ok {
		reply(w, http.StatusNotFound, map[string]string{"error": "no connector named " + name + " takes webhooks here (configure its webhooks block)"})
		return
	}
	select {
	case <-s.o.Stop:
		w.Header().Set("Retry-After", "30")
		reply(w, http.StatusServiceUnavailable, map[string]string{"error": "stopping"})
		return
	default:
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.o.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.m.refused.WithLabelValues(name, "too_large").Inc()
			reply(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "the body is over the limit"})
			return
		}
		reply(w, http.StatusBadRequest, map[string]string{"error": "read the body: " + err.Error()})
		return
	}
	changes, err := rec.Receive(connector.Delivery{Method: r.Method, URL: s.publicURL(r), Header: r.Header, Body: body, Now: s.o.Now()})
	switch {
	case errors.Is(err, connector.ErrUnauthenticated):
		s.m.refused.WithLabelValues(name, "unauthenticated").Inc()
		s.log.Warn("webhook refused", "connector", name, "bytes", len(body), "err", err)
		reply(w, http.StatusUnauthorized, map[string]string{"error": "not authenticated"})
		return
	case err != nil:
		s.m.refused.WithLabelValues(name, "malformed").Inc()
		s.log.Warn("webhook malformed", "connector", name, "bytes", len(body), "err", err)
		reply(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	stored, err := s.queue.Add(r.Context(), name, changes)
	switch {
	case errors.Is(err, ErrFull):
		s.m.refused.WithLabelValues(name, "full").Inc()
		w.Header().Set("Retry-After", "10")
		reply(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	case err != nil:
		s.log.Error("webhook not stored", "connector", name, "err", err)
		reply(w, http.StatusInternalServerError, map[string]string{"error": "not stored; retry"})
		return
	}
	s.m.changes.WithLabelValues(name).Add(float64(stored))
	s.m.duplicates.WithLabelValues(name).Add(float64(len(changes) - stored))
	reply(w, http.StatusOK, map[string]int{"stored": stored, "duplicates": len(changes) - stored})
}

// publicURL is the URL the sender called: PublicURL (or http:// and the
// Host) with the request's path and query as sent.
func (s *Server) publicURL(r *http.Request) string {
	base := strings.TrimSuffix(s.o.PublicURL, "/")
	if base == "" {
		base = "http://" + r.Host
	}
	return base + r.URL.RequestURI()
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
