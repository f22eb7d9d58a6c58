package web

// The HTTP inbox: the shared inbox and each community's, answered 202
// once federation.Inbox.Receive has verified and recorded the activity.

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/agorafed/agora/federation"
	"github.com/go-chi/chi/v5"
)

// inbox receives activities at the shared inbox and at each community's
// inbox. Routing is by content, not by URL (docs/protocol.md, "What Agora accepts"), so the
// URL only has to name an existing community.
func (s *server) inbox(w http.ResponseWriter, r *http.Request) {
	if err := s.checkHost(r); err != nil {
		s.reject(w, r, err)
		return
	}
	if name := chi.URLParam(r, "name"); name != "" {
		if _, err := s.Communities.Get(r.Context(), name); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if !isJSONType(r.Header.Get("Content-Type")) {
		s.reject(w, r, errContentType)
		return
	}
	if r.ContentLength > MaxInboxBody {
		s.reject(w, r, errTooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxInboxBody))
	if err != nil {
		s.reject(w, r, err)
		return
	}
	result, err := s.Inbox.Receive(r.Context(), r, body, admitActor(s.actorLimit, w, r))
	if err != nil {
		s.reject(w, r, err)
		return
	}
	s.Log.Debug("inbox", "result", result, "path", r.URL.Path)
	w.WriteHeader(http.StatusAccepted)
}

func (s *server) reject(w http.ResponseWriter, r *http.Request, err error) {
	switch code := statusOf(err); {
	case errors.Is(err, federation.ErrBusy):
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterBusy))
		http.Error(w, "inbox busy", code)
		return
	case errors.Is(err, federation.ErrOverBudget):
		// 429 is one of the answers Mastodon tries again later, not a
		// refusal for good (response_error_unsalvageable? in
		// app/workers/activitypub/delivery_worker.rb spares 401, 408 and
		// 429); by then the backlog has been processed.
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterBudget))
		s.Log.Warn("inbox rejected", "path", r.URL.Path, "remote", r.RemoteAddr, "status", code, "err", err)
	case code == http.StatusTooManyRequests:
		// A sender over its limit sends many: one Warn line each would
		// flood the log (the per-address limit logs none either).
		s.Log.Debug("inbox rejected", "path", r.URL.Path, "remote", r.RemoteAddr, "status", code, "err", err)
	case code < 500:
		s.Log.Warn("inbox rejected", "path", r.URL.Path, "remote", r.RemoteAddr, "status", code, "err", err)
	}
	s.fail(w, r, err)
}

// isJSONType accepts the ActivityPub media types, and plain JSON that some
// implementations send.
func isJSONType(v string) bool {
	mt, _, err := mime.ParseMediaType(v)
	if err != nil {
		return false
	}
	switch strings.ToLower(mt) {
	case "application/activity+json", "application/ld+json", "application/json":
		return true
	}
	return false
}
