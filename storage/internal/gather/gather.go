// Package gather gathers concurrent requests of one kind into batches,
// for the group commits of storage/sqlite and storage/postgres: the first
// caller to find no batch running leads, committing what is waiting (up
// to Max at a time) until nothing is, and every caller returns once its
// own request is committed. How a batch is committed (one transaction,
// durable or not) is the store's: Commit.
package gather

import (
	"context"
	"sync"
)

// Result is one request's outcome in a batch.
type Result[Res any] struct {
	Res Res
	Err error
}

// Group gathers requests of one kind. Max and Commit are set before the
// first Do; Commit returns one Result per request, in order (a request it
// returns none for gets the zero Result).
type Group[Req, Res any] struct {
	Max    int
	Commit func(reqs []Req) []Result[Res]

	mu      sync.Mutex
	pending []*call[Req, Res]
	running bool
}

type call[Req, Res any] struct {
	req  Req
	done chan Result[Res]
}

// Do commits req in a batch and returns its result once committed. When
// ctx ends first it returns ctx's error; the request may still be
// committed.
func (g *Group[Req, Res]) Do(ctx context.Context, req Req) (Res, error) {
	c := &call[Req, Res]{req: req, done: make(chan Result[Res], 1)}
	g.mu.Lock()
	g.pending = append(g.pending, c)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	if lead {
		g.run()
	}
	select {
	case out := <-c.done:
		return out.Res, out.Err
	case <-ctx.Done():
		var zero Res
		return zero, ctx.Err()
	}
}

func (g *Group[Req, Res]) run() {
	for {
		g.mu.Lock()
		batch := g.pending
		if len(batch) > g.Max {
			batch = batch[:g.Max]
		}
		g.pending = g.pending[len(batch):]
		if len(batch) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		reqs := make([]Req, len(batch))
		for i, c := range batch {
			reqs[i] = c.req
		}
		results := g.Commit(reqs)
		for i, c := range batch {
			var out Result[Res]
			if i < len(results) {
				out = results[i]
			}
			c.done <- out
		}
	}
}
