package agora

import "time"

// Timeouts are the HTTP server's limits on each phase of a request,
// so that slow clients (slow-loris) cannot hold connections. They are not
// configurable; tests shorten them.
type Timeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// OrDefaults fills the zero fields: headers within 10 s, a whole request
// (a 1 MiB activity) within 30 s, an answer within 60 s, and an idle
// keep-alive connection closed after 2 minutes.
func (t Timeouts) OrDefaults() Timeouts {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.ReadHeader, 10*time.Second)
	def(&t.Read, 30*time.Second)
	def(&t.Write, 60*time.Second)
	def(&t.Idle, 120*time.Second)
	return t
}
