package federation

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Sources of the processor's parse (Metrics.Parses).
const (
	parseHandedOver  = "handed_over"
	parseParsedAgain = "parsed_again"
)

// Metrics are the Prometheus metrics of the inbox and the delivery queue.
type Metrics struct {
	Inbox      *prometheus.CounterVec // by activity type and result
	Deliveries *prometheus.CounterVec // by result: delivered, retry, failed, dropped
	Signatures *prometheus.CounterVec // verified inbox POSTs by signature scheme
	Parses     *prometheus.CounterVec // activities the processor took as Receive parsed them, or parsed again
	Refusals   *prometheus.CounterVec // deliveries answered with a 4xx, by status
}

// NewMetrics makes the metrics and registers them with reg (nil: not
// registered, for tests and the CLI).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Inbox: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agora_inbox_activities_total",
			Help: "Activities POSTed to the inboxes, by type and result.",
		}, []string{"type", "result"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agora_deliveries_total",
			Help: "Delivery attempts, by result.",
		}, []string{"result"}),
		Signatures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agora_inbox_signatures_total",
			Help: "Verified inbox POSTs, by HTTP Signature scheme (draft-cavage-http-signatures-12, rfc9421).",
		}, []string{"scheme"}),
		Parses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agora_inbox_processed_parses_total",
			Help: "Activities processed, by where their parse came from: handed over by the inbox (handed_over) or parsed again from the queue (parsed_again: after a restart, or when the hand-over was full).",
		}, []string{"source"}),
		Refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "agora_delivery_refusals_total",
			Help: "Deliveries a receiver refused with a 4xx answer, by status (424: NodeBB could not resolve an embedded object of another origin).",
		}, []string{"status"}),
	}
	if reg != nil {
		reg.MustRegister(m.Inbox, m.Deliveries, m.Signatures, m.Parses, m.Refusals)
	}
	return m
}

// ParseSources says how many activities the processor took as Receive
// parsed them and how many it parsed again, so far.
func (m *Metrics) ParseSources() (handedOver, parsedAgain float64) {
	return counterValue(m.Parses.WithLabelValues(parseHandedOver)), counterValue(m.Parses.WithLabelValues(parseParsedAgain))
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if c.Write(&m) != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// RegisterQueueDepth exports the delivery queue depth, read at scrape time.
func RegisterQueueDepth(reg prometheus.Registerer, depth func() float64) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "agora_delivery_queue_depth",
		Help: "Deliveries waiting in the queue (due or scheduled for retry).",
	}, depth))
}

// RegisterInboxDepth exports how many recorded inbox activities wait to
// be processed, read at scrape time.
func RegisterInboxDepth(reg prometheus.Registerer, depth func() float64) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "agora_inbox_queue_depth",
		Help: "Inbox activities recorded (answered 202) and not processed yet.",
	}, depth))
}
