package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
)

// browser tells whether a request comes from a person's browser, which
// gets error pages in the site's look, rather than from a server or a
// script, which get a line of text.
func browser(r *http.Request) bool {
	return !wantsAS2(r) && strings.Contains(r.Header.Get("Accept"), "text/html")
}

// errorPages are the statuses that have a page of their own; others use
// the page of their class (4xx, 5xx).
var errorPages = map[int]bool{400: true, 403: true, 404: true, 410: true, 413: true, 429: true, 500: true, 503: true}

// errorPage answers a browser with an error page: what happened in plain
// words, in the visitor's language, and a way back (the community the URL
// names, and the home page). detail is shown under the explanation (a
// removed post's reason). Others get the status line as text.
func (s *server) errorPage(w http.ResponseWriter, r *http.Request, code int, detail string) {
	if !browser(r) {
		text := http.StatusText(code)
		if detail != "" {
			text += ": " + detail
		}
		http.Error(w, strings.ToLower(text), code)
		return
	}
	key := code
	if !errorPages[key] {
		key = 400
		if code >= 500 {
			key = 500
		}
	}
	l := s.lang(r)
	data := map[string]any{
		"Code":   code,
		"Title":  l.T("error." + strconv.Itoa(key) + ".title"),
		"Text":   l.T("error." + strconv.Itoa(key) + ".text"),
		"Detail": detail,
	}
	if name := communityInPath(r); name != "" {
		if c, err := s.Communities.Get(r.Context(), name); err == nil {
			data["Community"] = c
		}
	}
	if strings.HasPrefix(r.URL.Path, "/admin") && adminName(r) != "" {
		data["Admin"] = true
	}
	s.render(w, r, code, "error", data)
}

// communityInPath is the community a URL names (/c/NAME/...), or "".
func communityInPath(r *http.Request) string {
	if name := chi.URLParam(r, "name"); name != "" {
		return name
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/c/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// notFound is the 404 of every unknown URL.
func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	s.errorPage(w, r, http.StatusNotFound, "")
}
