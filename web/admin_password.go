package web

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/go-chi/chi/v5"
)

// passwordRoutes let a logged-in admin change their password. The post is
// limited like the login form: a stolen session must not become a way to
// guess the password behind it.
func (s *server) passwordRoutes(r chi.Router) {
	r.Get("/password", s.passwordForm)
	r.With(limitByClient(LoginAttempts, time.Minute)).Post("/password", s.changePassword)
}

func (s *server) passwordForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "admin_password", map[string]any{
		"MinPassword": MinPassword, "Notice": r.URL.Query().Get("notice"),
	})
}

// changePassword checks the current password, stores the new one's hash
// and ends the admin's other sessions; this browser stays logged in.
func (s *server) changePassword(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	fail := func(status int, msg string) {
		s.render(w, r, status, "admin_password", map[string]any{"MinPassword": MinPassword, "Error": msg})
	}
	name := adminName(r)
	id, hash, err := s.Admin.AdminByName(ctx, name)
	if err != nil && !errors.Is(err, community.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	// The account may have been deleted since the session began: then no
	// password matches.
	if !checkPassword(hash, r.PostFormValue("current")) || id != adminID(r) {
		s.Log.Warn("admin password change refused: wrong current password", "name", name, "remote", r.RemoteAddr)
		fail(http.StatusForbidden, s.lang(r).T("admin.password.wrong"))
		return
	}
	password := r.PostFormValue("password")
	if password != r.PostFormValue("confirm") {
		fail(http.StatusBadRequest, s.lang(r).T("admin.password.differ"))
		return
	}
	if password == r.PostFormValue("current") {
		fail(http.StatusBadRequest, s.lang(r).T("admin.password.same"))
		return
	}
	newHash, err := HashPassword(password)
	if err != nil {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	keep := ""
	if c, err := r.Cookie(sessionCookie); err == nil {
		keep = tokenHash(c.Value)
	}
	if err := s.Admin.ChangePassword(ctx, id, newHash, keep); err != nil {
		s.fail(w, r, err)
		return
	}
	s.Log.Info("admin password changed; other sessions ended", "name", name)
	http.Redirect(w, r, "/admin/password?notice="+url.QueryEscape(
		"Your password was changed. Every other browser logged in as "+name+" was logged out."), http.StatusSeeOther)
}
