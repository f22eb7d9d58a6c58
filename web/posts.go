package web

import (
	"bytes"
	"net/http"
	"strconv"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/go-chi/chi/v5"
)

func (s *server) outbox(w http.ResponseWriter, r *http.Request) {
	c, ok := s.collectionOwner(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	body, err := s.Docs.Outbox(r.Context(), c, q.Has("page"), before)
	s.writeAS2(w, r, body, err)
}

// visible tells whether a post may be shown: announced ones, and public
// replies that were only kept out of timelines for being replies. Refused
// posts (followers-only, direct, spam) are never shown.
func visible(p community.Post) bool {
	if !p.DeletedAt.IsZero() {
		return false
	}
	return p.Announced() ||
		(p.Reason == community.ReasonReply && (p.Visibility == community.Public || p.Visibility == community.Unlisted))
}

func (s *server) post(w http.ResponseWriter, r *http.Request) {
	c, err := s.Communities.Get(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	id, _ := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	p, err := s.Posts.ByID(r.Context(), id)
	if err != nil || p.CommunityID != c.ID {
		s.notFound(w, r)
		return
	}
	if !p.DeletedAt.IsZero() {
		s.errorPage(w, r, http.StatusGone, s.lang(r).T("gone.deleted"))
		return
	}
	if p.Reason == community.ReasonRemoved {
		s.errorPage(w, r, http.StatusGone, s.removedWhy(r, c, p))
		return
	}
	if !visible(p) {
		s.notFound(w, r)
		return
	}
	if wantsAS2(r) {
		if !s.signedFetch(w, r) {
			return
		}
		body, err := s.Docs.PostDocument(c, p)
		s.writeAS2(w, r, body, err)
		return
	}
	s.postPage(w, r, c, p)
}

// outActivity serves a public activity Agora sent ({community}/announce/7),
// so peers can dereference its id.
func (s *server) outActivity(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	a, err := s.Activities.OutActivity(r.Context(), s.Local.CommunityIRI(name)+"/"+chi.URLParam(r, "kind")+"/"+chi.URLParam(r, "n"))
	if err != nil || !bytes.Contains(a.Body, []byte(federation.PublicCollection)) {
		s.notFound(w, r)
		return
	}
	if !s.signedFetch(w, r) {
		return
	}
	s.writeAS2(w, r, a.Body, nil)
}

// removedWhy says that moderators removed a post, with the reason they
// gave when the community's moderation log is public (the log says it to
// anyone already), and without when it is not.
func (s *server) removedWhy(r *http.Request, c community.Community, p community.Post) string {
	l := s.lang(r)
	if s.Moderation != nil {
		entries, err := s.Moderation.PublicLog(r.Context(), c, 500)
		if err == nil {
			for _, e := range entries { // newest first
				if e.Action == "remove" && e.Target == p.ObjectID {
					if e.Reason != "" {
						return l.T("gone.removed_reason", "Reason", e.Reason)
					}
					break
				}
			}
		}
	}
	return l.T("gone.removed")
}
