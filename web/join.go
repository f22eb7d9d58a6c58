package web

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/agorafed/agora/community"
	"github.com/go-chi/chi/v5"
)

// joinForm asks a visitor for their handle.
func (s *server) joinForm(w http.ResponseWriter, r *http.Request) {
	c, err := s.Communities.Get(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "join", s.joinData(w, r, c, rememberedHandle(r)))
}

func (s *server) joinData(w http.ResponseWriter, r *http.Request, c community.Community, you string) map[string]any {
	return map[string]any{
		"C": c, "Handle": s.handle(c), "ActorIRI": s.Local.CommunityIRI(c.Name),
		"You": you, "CSRF": s.csrfToken(w, r),
	}
}

// join looks the visitor's server up with WebFinger and sends them to its
// remote-follow page (http://ostatus.org/schema/1.0/subscribe) with the
// community's actor, so they follow in one click. A server without one gets
// the handle to search for and the steps.
func (s *server) join(w http.ResponseWriter, r *http.Request) {
	c, err := s.Communities.Get(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	you := strings.TrimSpace(r.PostFormValue("handle"))
	data := s.joinData(w, r, c, you)
	ctx, cancel := context.WithTimeout(r.Context(), lookupTimeout)
	defer cancel()
	v, err := s.lookupVisitor(ctx, you, false)
	if v.Host == "" {
		data["Error"] = s.lang(r).T("handle.invalid")
		s.render(w, r, http.StatusBadRequest, "join", data)
		return
	}
	s.rememberHandle(w, you)
	target := ""
	if err == nil {
		target, err = s.interactionURL(v, s.Local.CommunityIRI(c.Name))
	}
	if err != nil {
		s.Log.Info("join: no remote follow", "community", c.Name, "server", v.Host, "err", err)
		data["Manual"], data["Server"] = true, v.Host
		if !errors.Is(err, errNoTemplate) {
			data["Problem"] = s.lang(r).T("handle.unreachable", "Server", v.Host)
		}
		s.render(w, r, http.StatusOK, "join", data)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}
