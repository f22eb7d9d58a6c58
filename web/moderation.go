package web

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// moderators serves the Group's attributedTo: its moderators collection.
func (s *server) moderators(w http.ResponseWriter, r *http.Request) {
	c, ok := s.collectionOwner(w, r)
	if !ok {
		return
	}
	if s.Moderation == nil {
		s.emptyCollection(w, r, c, "moderators")
		return
	}
	mods, err := s.Moderation.Moderators(r.Context(), c)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := s.Docs.Moderators(c, mods)
	s.writeAS2(w, r, body, err)
}

// featured serves the community's pinned posts.
func (s *server) featured(w http.ResponseWriter, r *http.Request) {
	c, ok := s.collectionOwner(w, r)
	if !ok {
		return
	}
	if s.Moderation == nil {
		s.emptyCollection(w, r, c, "featured")
		return
	}
	pinned, err := s.Moderation.Pinned(r.Context(), c)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := s.Docs.Featured(c, pinned)
	s.writeAS2(w, r, body, err)
}

// modLog shows a community's moderation log, if the community made it
// public (agora mod log NAME --public=true); otherwise 404.
func (s *server) modLog(w http.ResponseWriter, r *http.Request) {
	c, err := s.Communities.Get(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.Moderation == nil {
		s.notFound(w, r)
		return
	}
	entries, err := s.Moderation.PublicLog(r.Context(), c, 200)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "modlog", map[string]any{"C": c, "Lines": s.publicLog(r.Context(), s.lang(r), entries)})
}
