package serve

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are serve's Prometheus series, in a registry of its own (no
// global state): GET /metrics.
type metrics struct {
	reg        *prometheus.Registry
	cycles     *prometheus.CounterVec // by kind and outcome
	cycleTime  prometheus.Histogram   // seconds
	lag        prometheus.Histogram   // change to sent, seconds
	changes    *prometheus.CounterVec // stored, by source
	duplicates *prometheus.CounterVec // by source
	refused    *prometheus.CounterVec // by source and reason
	rowsSent   *prometheus.CounterVec // by sync
	rowsFailed *prometheus.CounterVec // by sync
	queueDepth prometheus.GaugeFunc   // changes not done
	budget     prometheus.Gauge       // HubSpot daily calls left, as the last poll probe said
	interval   prometheus.Gauge       // the poll interval in force
	published  prometheus.Gauge       // unix time of the last published copy
	lastOK     prometheus.Gauge       // unix time of the last good cycle
	errors     *prometheus.CounterVec // cycle errors, by kind
}

func newMetrics(queued func() float64) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.cycles = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backflow_serve_cycles_total", Help: "Cycles run, by kind (changes, poll, full) and outcome."}, []string{"kind", "outcome"})
	m.cycleTime = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "backflow_serve_cycle_seconds", Help: "How long a cycle took.",
		Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300}})
	m.lag = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "backflow_serve_lag_seconds", Help: "From a change's occurrence to the end of the cycle that sent its consequences.",
		Buckets: []float64{0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600}})
	m.changes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backflow_serve_changes_total", Help: "Webhook changes stored, by source."}, []string{"source"})
	m.duplicates = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backflow_serve_duplicate_changes_total", Help: "Webhook changes already stored (retries, duplicates), by source."}, []string{"source"})
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backflow_serve_refused_deliveries_total", Help: "Webhook deliveries refused, by source and reason (unauthenticated, malformed, full, too_large)."}, []string{"source", "reason"})
	m.rowsSent = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backflow_serve_rows_sent_total", Help: "Rows a sync applied, by sync."}, []string{"sync"})
	m.rowsFailed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backflow_serve_rows_failed_total", Help: "Rows a sync failed or had rejected, by sync."}, []string{"sync"})
	m.queueDepth = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "backflow_serve_queue_depth", Help: "Changes stored and not yet done."}, queued)
	m.budget = prometheus.NewGauge(prometheus.GaugeOpts{Name: "backflow_serve_daily_budget_left", Help: "API calls left today, as the last poll probe's answer said (HubSpot)."})
	m.interval = prometheus.NewGauge(prometheus.GaugeOpts{Name: "backflow_serve_poll_interval_seconds", Help: "The poll interval in force: --poll, stretched to the poll budget's share of the daily API budget."})
	m.published = prometheus.NewGauge(prometheus.GaugeOpts{Name: "backflow_serve_published_timestamp_seconds", Help: "When the analysts' copy (--publish) was last written."})
	m.lastOK = prometheus.NewGauge(prometheus.GaugeOpts{Name: "backflow_serve_last_success_timestamp_seconds", Help: "When the last cycle that succeeded ended."})
	m.errors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "backflow_serve_cycle_errors_total", Help: "Cycles that failed, by kind."}, []string{"kind"})
	m.reg.MustRegister(m.cycles, m.cycleTime, m.lag, m.changes, m.duplicates, m.refused, m.rowsSent, m.rowsFailed, m.queueDepth, m.budget, m.interval, m.published, m.lastOK, m.errors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
