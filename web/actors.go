package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/go-chi/chi/v5"
)

// instanceLevelActor serves an actor of the instance itself (the
// Application that signs fetches, the moderation Person) to anyone,
// signed or not: peers fetch keys unsigned. A browser goes to the home
// page.
func (s *server) instanceLevelActor(render func(context.Context) ([]byte, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !wantsAS2(r) {
			http.Redirect(w, r, "/", http.StatusFound)
			return
		}
		body, err := render(r.Context())
		s.writeAS2(w, r, body, err)
	}
}

// instanceOutbox answers the outbox the instance's actors advertise: it
// holds nothing (they send no public posts), but peers fetch it, and
// GoToSocial took the 404 it got for a broken actor.
func (s *server) instanceOutbox(w http.ResponseWriter, r *http.Request) {
	if !s.signedFetch(w, r) {
		return
	}
	iri := s.Local.Base() + r.URL.Path
	body, err := s.Docs.EmptyCollection(iri, r.URL.Query().Has("page"))
	s.writeAS2(w, r, body, err)
}

// communityActor serves the Group actor to ActivityPub clients and the
// community page to browsers; actor documents are always public (peers
// fetch keys unsigned), even under authorized fetch.
func (s *server) communityActor(w http.ResponseWriter, r *http.Request) {
	c, err := s.Communities.Get(r.Context(), chi.URLParam(r, "name"))
	if errors.Is(err, community.ErrGone) {
		w.Header().Add("Vary", "Accept")
		if wantsAS2(r) {
			body, terr := federation.RenderTombstone(s.Local.CommunityIRI(c.Name), "Group", c.DeletedAt)
			if terr != nil {
				s.fail(w, r, terr)
				return
			}
			w.Header().Set("Content-Type", as2ContentType(r))
			w.WriteHeader(http.StatusGone)
			w.Write(body)
			return
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if wantsAS2(r) {
		body, err := s.Docs.GroupActor(r.Context(), c)
		s.writeAS2(w, r, body, err)
		return
	}
	s.communityPage(w, r, c)
}

// signedFetch enforces authorized fetch on AS2 GETs other than actors and
// keys: a valid signature is required. It reports whether to go on.
func (s *server) signedFetch(w http.ResponseWriter, r *http.Request) bool {
	if !s.AuthorizedFetch {
		return true
	}
	if err := s.checkHost(r); err != nil {
		s.fail(w, r, err)
		return false
	}
	if err := federation.VerifyFetch(r.Context(), r, s.Keys, s.Now()); err != nil {
		s.fail(w, r, err)
		return false
	}
	return true
}

// collectionOwner loads the {name} community of an AS2 collection GET and
// enforces authorized fetch; false means the answer is written already.
func (s *server) collectionOwner(w http.ResponseWriter, r *http.Request) (community.Community, bool) {
	c, err := s.Communities.Get(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		s.fail(w, r, err)
		return c, false
	}
	return c, s.signedFetch(w, r)
}

func (s *server) followers(w http.ResponseWriter, r *http.Request) {
	c, ok := s.collectionOwner(w, r)
	if !ok {
		return
	}
	body, err := s.Docs.Followers(r.Context(), c) // one document, also for ?page=...
	s.writeAS2(w, r, body, err)
}

// emptyCollection answers with an empty collection of community c (no
// moderation wired: tests of other parts).
func (s *server) emptyCollection(w http.ResponseWriter, r *http.Request, c community.Community, which string) {
	body, err := s.Docs.EmptyCollection(s.Local.CommunityIRI(c.Name)+"/"+which, r.URL.Query().Has("page"))
	s.writeAS2(w, r, body, err)
}
