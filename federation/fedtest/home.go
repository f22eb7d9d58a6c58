package fedtest

import (
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// HomeOptions configures a Home.
type HomeOptions struct {
	// Software is NodeInfo's software.name; "" serves no NodeInfo.
	Software string
	// Interaction is the path and query of the WebFinger remote-interaction
	// template (http://ostatus.org/schema/1.0/subscribe), such as
	// Mastodon's "/authorize_interaction?uri={uri}"; "" serves none.
	Interaction string
	// LemmyCommunities are the communities Lemmy's API knows, by
	// "name@host", with their id: GET /api/v3/community?name= answers
	// them and 404 for others, as Lemmy does.
	LemmyCommunities map[string]int64
}

// Home is the home server of a visitor to Agora's pages, as the Join,
// Write a post and Reply/Boost/Like forms see it: WebFinger for any
// acct:, NodeInfo, Lemmy's community API, and every other path a page
// that says where the visitor arrived (the path in #arrived, each query
// parameter in a <dd> after its name) and is recorded in Visits.
type Home struct {
	srv  *httptest.Server
	opts HomeOptions

	mu     sync.Mutex
	visits []*url.URL
}

// NewHome starts a Home on loopback; it stops with the test.
func NewHome(t testing.TB, opts HomeOptions) *Home {
	h := &Home{opts: opts}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

// URL is the server's base URL (http://127.0.0.1:port).
func (h *Home) URL() string { return h.srv.URL }

// Host is host:port, the domain of its handles.
func (h *Home) Host() string { return strings.TrimPrefix(h.srv.URL, "http://") }

// Visits are the pages visitors arrived at, in order.
func (h *Home) Visits() []*url.URL {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]*url.URL(nil), h.visits...)
}

func (h *Home) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/.well-known/webfinger":
		user, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Query().Get("resource"), "acct:"), "@")
		links := []map[string]string{{"rel": "self", "type": "application/activity+json", "href": h.srv.URL + "/users/" + user}}
		if h.opts.Interaction != "" {
			links = append(links, map[string]string{"rel": "http://ostatus.org/schema/1.0/subscribe", "template": h.srv.URL + h.opts.Interaction})
		}
		writeJSON(w, "application/jrd+json", map[string]any{"subject": r.URL.Query().Get("resource"), "links": links})
		return
	case "/.well-known/nodeinfo":
		if h.opts.Software == "" {
			http.NotFound(w, r)
			return
		}
		writeJSON(w, "application/json", map[string]any{"links": []map[string]string{
			{"rel": "http://nodeinfo.diaspora.software/ns/schema/2.0", "href": h.srv.URL + "/nodeinfo/2.0"}}})
		return
	case "/nodeinfo/2.0":
		writeJSON(w, "application/json", map[string]any{"version": "2.0", "software": map[string]string{"name": h.opts.Software, "version": "1.0"}})
		return
	case "/api/v3/community":
		id, ok := h.opts.LemmyCommunities[r.URL.Query().Get("name")]
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]string{"error": "couldnt_find_community"})
			return
		}
		writeJSON(w, "application/json", map[string]any{"community_view": map[string]any{"community": map[string]any{"id": id}}})
		return
	}
	u := *r.URL
	h.mu.Lock()
	h.visits = append(h.visits, &u)
	h.mu.Unlock()
	var b strings.Builder
	b.WriteString("<!doctype html><html><head><title>Home server</title></head><body><h1 id=\"arrived\">")
	b.WriteString(html.EscapeString(r.URL.Path))
	b.WriteString("</h1><dl>")
	for k, vs := range r.URL.Query() {
		for _, v := range vs {
			b.WriteString("<dt>" + html.EscapeString(k) + "</dt><dd id=\"q-" + html.EscapeString(k) + "\">" + html.EscapeString(v) + "</dd>")
		}
	}
	b.WriteString("</dl></body></html>")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write([]byte(b.String()))
}
