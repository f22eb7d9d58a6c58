package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/go-chi/chi/v5"
)

// joinForm asks a visitor for their handle.
func (s *server) joinForm(w http.ResponseWriter, r *http.Request) {
	c, err := s.Communities.Get(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	you := ""
	if ck, err := r.Cookie(serverCookie); err == nil {
		you, _ = url.QueryUnescape(ck.Value)
	}
	s.render(w, r, http.StatusOK, "join", s.joinData(w, r, c, you))
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
	_, host, err := federation.SplitHandle(you)
	if err != nil {
		data["Error"] = s.lang(r).T("handle.invalid")
		s.render(w, r, http.StatusBadRequest, "join", data)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: serverCookie, Value: url.QueryEscape(you), Path: "/", HttpOnly: true, Secure: s.secure(),
		SameSite: http.SameSiteLaxMode, MaxAge: 365 * 24 * 3600,
	})
	target, err := s.subscribeURL(r.Context(), you, s.Local.CommunityIRI(c.Name))
	if err != nil {
		s.Log.Info("join: no remote follow", "community", c.Name, "server", host, "err", err)
		data["Manual"], data["Server"] = true, host
		if !errors.Is(err, errNoTemplate) {
			data["Problem"] = s.lang(r).T("handle.unreachable", "Server", host)
		}
		s.render(w, r, http.StatusOK, "join", data)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

var errNoTemplate = errors.New("no remote follow template")

// subscribeURL fills the visitor's server's remote-follow template with the
// actor IRI. The template comes from a server Agora does not trust: only an
// https URL (http too in test setups) is followed, never javascript: or data:.
func (s *server) subscribeURL(ctx context.Context, handle, actor string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	jrd, err := s.Finger.WebFinger(ctx, handle, s.AllowHTTP)
	if err != nil {
		return "", err
	}
	tmpl := jrd.SubscribeTemplate()
	if tmpl == "" || !strings.Contains(tmpl, "{uri}") {
		return "", errNoTemplate
	}
	target := strings.ReplaceAll(tmpl, "{uri}", url.QueryEscape(actor))
	u, err := url.Parse(target)
	if err != nil || u.Host == "" || !(u.Scheme == "https" || (u.Scheme == "http" && s.AllowHTTP)) {
		return "", errNoTemplate
	}
	return target, nil
}
