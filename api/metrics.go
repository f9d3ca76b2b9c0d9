package api

import (
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cccd-station/station/queue"
	"github.com/cccd-station/station/station"
)

// SpoilClasses are the reasons a spoiled card is counted under: the
// station's fixed set (station.SpoilClasses), never free text. Anything else
// counts as "other".
var SpoilClasses = station.SpoilClasses

// queueStates are the application states reported as queue depth, each
// always present (0 when empty) so that the series are stable.
var queueStates = []queue.State{
	queue.StateValidated, queue.StatePrepared, queue.StatePersonalizing, queue.StateVerifying,
	queue.StateIssued, queue.StateAcknowledged, queue.StatePurged, queue.StateRejected,
	queue.StateCancelled, queue.StateNeedsAttention,
}

// Metrics is the station's Prometheus registry. Card outcomes are counted as
// they happen (it implements station.Observer: the daemon passes it to
// station.Options.Observer); queue depth, readers and the signer are read
// from Control.Snapshot at scrape time. Labels are reader names, fixed
// reason classes, states and routes: never a card serial, an application id
// or a citizen's id.
type Metrics struct {
	reg      *prometheus.Registry
	issued   *prometheus.CounterVec
	spoiled  *prometheus.CounterVec
	duration prometheus.Histogram
	apdus    prometheus.Histogram
	requests *prometheus.CounterVec

	once sync.Once
	ctrl atomic.Pointer[Control]
}

var _ station.Observer = (*Metrics)(nil)

// NewMetrics makes a registry with the station's metrics and the Go
// runtime's and process's.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "station_cards_issued_total", Help: "Cards personalized and verified.",
		}, []string{"reader"}),
		spoiled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "station_cards_spoiled_total", Help: "Cards spoiled, by reason class.",
		}, []string{"reader", "reason"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "station_perso_duration_seconds", Help: "Time from claiming a blank card to a verified card.",
			Buckets: []float64{1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120},
		}),
		apdus: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "station_card_apdus", Help: "APDUs exchanged to personalize and verify one issued card.",
			Buckets: prometheus.ExponentialBuckets(32, 2, 10), // 32 … 16384
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "station_http_requests_total", Help: "HTTP requests by route template and status code.",
		}, []string{"route", "code"}),
	}
	m.reg.MustRegister(m.issued, m.spoiled, m.duration, m.apdus, m.requests,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is where the daemon may register more collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// CardIssued counts a verified card: its duration and APDU count.
func (m *Metrics) CardIssued(reader string, d time.Duration, apdus int) {
	m.issued.WithLabelValues(reader).Inc()
	m.duration.Observe(d.Seconds())
	m.apdus.Observe(float64(apdus))
}

// CardSpoiled counts a spoiled card under its reason class (SpoilClasses;
// anything else is "other").
func (m *Metrics) CardSpoiled(reader, class string) {
	if !slices.Contains(SpoilClasses, class) {
		class = "other"
	}
	m.spoiled.WithLabelValues(reader, class).Inc()
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// watch reads the station's state at scrape time.
func (m *Metrics) watch(c Control) error {
	m.ctrl.Store(&c)
	var err error
	m.once.Do(func() { err = m.reg.Register(snapshotCollector{m}) })
	return err
}

var (
	descQueue   = prometheus.NewDesc("station_queue_applications", "Applications by state.", []string{"state"}, nil)
	descReaders = prometheus.NewDesc("station_readers", "Readers the station knows.", nil, nil)
	descUp      = prometheus.NewDesc("station_readers_up", "Readers working (not in error, not stopped).", nil, nil)
	descPaused  = prometheus.NewDesc("station_readers_paused", "Readers paused by a technician.", nil, nil)
	descSigner  = prometheus.NewDesc("station_signer_up", "1 when the Document Signer can sign: its token answered and its certificate may sign.", nil, nil)
	descToken   = prometheus.NewDesc("station_signer_token_up", "1 when the Document Signer token answered its last check.", nil, nil)
	descDSValid = prometheus.NewDesc("station_ds_certificate_valid", "1 when the DS certificate may sign now (validity, chain to a CSCA, key usage, country, key, usage period); 0 with the problem as label.", []string{"problem"}, nil)
	descDSEnds  = prometheus.NewDesc("station_ds_certificate_ends_timestamp_seconds", "When the DS certificate (or its key usage period) stops being able to sign, Unix time.", nil, nil)
	descDSSoon  = prometheus.NewDesc("station_ds_certificate_expiring_soon", "1 when the DS certificate ends within the configured warning window.", nil, nil)
	descDSOut   = prometheus.NewDesc("station_documents_outliving_ds_certificate_total", "Documents signed since start that expire after the DS certificate (ICAO 9303-12: DS validity = key usage + document validity).", []string{"expiry"}, nil)
	descDrain   = prometheus.NewDesc("station_draining", "1 while the station takes no new work.", nil, nil)
	descStore   = prometheus.NewDesc("station_store_writable", "1 when the job store's writes commit; 0 while it cannot write (disk full, I/O error): no card is claimed, intake answers 503.", nil, nil)
	descStoreF  = prometheus.NewDesc("station_store_write_failures_total", "Job store writes that failed for the store's reasons (disk full, I/O error).", nil, nil)
	descFree    = prometheus.NewDesc("station_store_free_bytes", "Free space where the job store lives.", nil, nil)
	descLow     = prometheus.NewDesc("station_store_low_space", "1 when free space is below the configured minimum: no card is claimed.", nil, nil)
	descHolding = prometheus.NewDesc("station_readers_holding_card", "Readers holding a card whose record did not commit (alarm).", nil, nil)
)

type snapshotCollector struct{ m *Metrics }

func (snapshotCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueue, descReaders, descUp, descPaused, descSigner, descToken, descDSValid,
		descDSEnds, descDSSoon, descDSOut, descDrain, descStore, descStoreF, descFree, descLow, descHolding} {
		ch <- d
	}
}

func (s snapshotCollector) Collect(ch chan<- prometheus.Metric) {
	c := s.m.ctrl.Load()
	if c == nil {
		return
	}
	snap := (*c).Snapshot()
	for _, st := range queueStates {
		ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(snap.Queue[st]), string(st))
	}
	up, paused, holding := readersUp(snap), 0, 0
	for _, r := range snap.Readers {
		if r.Paused {
			paused++
		}
		if r.State == station.ReaderHoldingCard {
			holding++
		}
	}
	ch <- prometheus.MustNewConstMetric(descReaders, prometheus.GaugeValue, float64(len(snap.Readers)))
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, float64(up))
	ch <- prometheus.MustNewConstMetric(descPaused, prometheus.GaugeValue, float64(paused))
	ch <- prometheus.MustNewConstMetric(descHolding, prometheus.GaugeValue, float64(holding))
	ch <- prometheus.MustNewConstMetric(descSigner, prometheus.GaugeValue, b2f(snap.Signer.OK))
	ch <- prometheus.MustNewConstMetric(descToken, prometheus.GaugeValue, b2f(snap.Signer.TokenOK))
	if c := snap.Signer.Certificate; c != nil {
		ch <- prometheus.MustNewConstMetric(descDSValid, prometheus.GaugeValue, b2f(c.Problem == ""), string(c.Problem))
		ch <- prometheus.MustNewConstMetric(descDSEnds, prometheus.GaugeValue, float64(c.Ends.Unix()))
		ch <- prometheus.MustNewConstMetric(descDSSoon, prometheus.GaugeValue, b2f(c.ExpiresSoon))
		ch <- prometheus.MustNewConstMetric(descDSOut, prometheus.CounterValue, float64(c.Outliving-c.NoExpiry), "dated")
		ch <- prometheus.MustNewConstMetric(descDSOut, prometheus.CounterValue, float64(c.NoExpiry), "none")
	}
	ch <- prometheus.MustNewConstMetric(descDrain, prometheus.GaugeValue, b2f(snap.Draining))
	ch <- prometheus.MustNewConstMetric(descStore, prometheus.GaugeValue, b2f(snap.Store.Writable))
	ch <- prometheus.MustNewConstMetric(descStoreF, prometheus.CounterValue, float64(snap.Store.Failures))
	ch <- prometheus.MustNewConstMetric(descFree, prometheus.GaugeValue, float64(snap.Store.FreeBytes))
	ch <- prometheus.MustNewConstMetric(descLow, prometheus.GaugeValue, b2f(snap.Store.LowSpace))
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// readerUp: a reader that works — possibly paused or waiting for a card,
// but not failing, not holding an unrecorded card, and not stopped.
func readerUp(r station.ReaderStatus) bool {
	return r.State != station.ReaderError && r.State != station.ReaderStopped && r.State != station.ReaderHoldingCard
}

func readersUp(s station.Snapshot) int {
	n := 0
	for _, r := range s.Readers {
		if readerUp(r) {
			n++
		}
	}
	return n
}

// instrument counts requests by route template (never the path itself: it
// holds application ids).
func (a *API) instrument(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		a.metrics.requests.WithLabelValues(route, strconv.Itoa(c.Response().Status)).Inc()
		return nil
	}
}

func (a *API) metricsHandler() echo.HandlerFunc {
	h := a.metrics.Handler()
	return echo.WrapHandler(h)
}
