package web

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages are the server-rendered HTML pages, each parsed with the layout,
// once per language: the functions t (a message), date and num are that
// language's (i18n.go). html/template escapes every value; only HTML that
// Agora sanitized (SanitizeHTML for remote posts, Markdown for the admin's
// text) is marked safe.
var pages = func() map[string]map[string]*template.Template {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	out := map[string]map[string]*template.Template{}
	for _, code := range Languages {
		l := langs[code]
		funcs := template.FuncMap{
			"t":    l.T,
			"date": l.Date,
			"num":  l.Num,
			"iso":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		}
		out[code] = map[string]*template.Template{}
		for _, n := range names {
			if path.Base(n) == "layout.html" {
				continue
			}
			name := strings.TrimSuffix(path.Base(n), ".html")
			out[code][name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n))
		}
	}
	return out
}()

// site is what the layout shows of the instance.
type site struct {
	Name        string
	Description template.HTML
}

// render writes a page. data gets the layout's fields (Site, AdminName,
// CSRF) added. The page is rendered to a buffer first, so a template error
// gives a clean 500 instead of half a page.
func (s *server) render(w http.ResponseWriter, r *http.Request, status int, page string, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	l := s.lang(r)
	st := s.site(r)
	data["Site"] = st
	if _, ok := data["Meta"]; !ok && status == http.StatusOK && !strings.HasPrefix(r.URL.Path, "/admin") {
		data["Meta"] = s.baseMeta(r, st, l)
	}
	data["AdminName"] = adminName(r)
	data["Lang"] = l.Code
	data["Langs"] = langLinks(r, l)
	if n, ok := data["Notice"].(string); ok && n != "" {
		data["Notice"] = translateNotice(l, n)
	}
	if _, ok := data["CSRF"]; !ok && adminName(r) != "" {
		data["CSRF"] = s.csrfToken(w, r)
	}
	var buf bytes.Buffer
	if err := pages[l.Code][page].ExecuteTemplate(&buf, "layout", data); err != nil {
		s.Log.Error("template", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", l.Code)
	w.Header().Add("Vary", "Accept-Language, Cookie")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// Instance settings keys.
const (
	settingName        = "name"
	settingDescription = "description"
)

func (s *server) site(r *http.Request) site {
	st := site{Name: "Agora"}
	if s.Admin == nil {
		return st
	}
	set, err := s.Admin.Settings(r.Context())
	if err != nil {
		s.Log.Warn("settings", "err", err)
		return st
	}
	if v := set[settingName]; v != "" {
		st.Name = v
	}
	st.Description = Markdown(set[settingDescription])
	return st
}

// static serves the CSS and the small script (copy button) from the binary.
func staticHandler() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}
