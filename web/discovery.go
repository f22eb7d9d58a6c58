package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/template"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/go-chi/chi/v5"
)

// webfinger answers RFC 7033 look-ups of acct:NAME@HOST (or the actor URL)
// for communities and the instance actor.
func (s *server) webfinger(w http.ResponseWriter, r *http.Request) {
	resource := r.URL.Query().Get("resource")
	if resource == "" || len(resource) > 1024 {
		http.Error(w, "resource parameter required", http.StatusBadRequest)
		return
	}
	user, host, err := parseResource(resource, s.Local)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if !strings.EqualFold(host, s.Local.Host()) {
		http.Error(w, "not a resource of this server", http.StatusNotFound)
		return
	}
	var actor, page string
	if user == s.Local.InstanceIRI() || strings.EqualFold(user, hostnameOf(s.Local.Host())) {
		actor, page = s.Local.InstanceIRI(), s.Local.Base()+"/"
		user = hostnameOf(s.Local.Host())
	} else {
		c, err := s.Communities.Get(r.Context(), user)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		actor = s.Local.CommunityIRI(c.Name)
		page = actor
		user = c.Name
	}
	doc := map[string]any{
		"subject": "acct:" + user + "@" + s.Local.Host(),
		"aliases": []string{actor},
		"links": []map[string]string{
			{"rel": "self", "type": "application/activity+json", "href": actor},
			{"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": page},
		},
	}
	w.Header().Set("Content-Type", "application/jrd+json")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	json.NewEncoder(w).Encode(doc)
}

// parseResource reads acct:user@host, or an actor URL of this server.
func parseResource(resource string, local *federation.Local) (user, host string, err error) {
	if rest, ok := strings.CutPrefix(resource, "acct:"); ok {
		rest = strings.TrimPrefix(rest, "@")
		user, host, ok = strings.Cut(rest, "@")
		if !ok || user == "" || host == "" || strings.ContainsAny(host, "@/ ") {
			return "", "", fmt.Errorf("malformed acct resource %q", resource)
		}
		return strings.ToLower(user), host, nil
	}
	u, err := url.Parse(resource)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", "", fmt.Errorf("malformed resource %q: want acct:NAME@HOST or an actor URL", resource)
	}
	if resource == local.InstanceIRI() {
		return resource, u.Host, nil
	}
	if name := local.CommunityName(resource); name != "" {
		return name, u.Host, nil
	}
	return "", "", fmt.Errorf("resource %q: %w", resource, community.ErrNotFound)
}

func hostnameOf(hostport string) string {
	if h, _, ok := strings.Cut(hostport, ":"); ok && !strings.HasPrefix(hostport, "[") {
		return h
	}
	return hostport
}

var hostMetaTmpl = template.Must(template.New("host-meta").Parse(`<?xml version="1.0" encoding="UTF-8"?>
<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">
  <Link rel="lrdd" template="{{.}}/.well-known/webfinger?resource={uri}"/>
</XRD>
`))

func (s *server) hostMeta(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/xrd+xml; charset=utf-8")
	hostMetaTmpl.Execute(w, s.Local.Base())
}

func (s *server) nodeinfoLinks(w http.ResponseWriter, r *http.Request) {
	base := s.Local.Base()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"links": []map[string]string{
			{"rel": "http://nodeinfo.diaspora.software/ns/schema/2.0", "href": base + "/nodeinfo/2.0"},
			{"rel": "http://nodeinfo.diaspora.software/ns/schema/2.1", "href": base + "/nodeinfo/2.1"},
		},
	})
}

func (s *server) nodeinfo(w http.ResponseWriter, r *http.Request) {
	version := chi.URLParam(r, "version")
	cs, err := s.Communities.List(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	software := map[string]string{"name": "agora", "version": s.Version}
	if version == "2.1" {
		software["repository"] = "https://github.com/agorafed/agora"
	}
	doc := map[string]any{
		"version":           version,
		"software":          software,
		"protocols":         []string{"activitypub"},
		"services":          map[string][]string{"inbound": {}, "outbound": {}},
		"openRegistrations": false,
		// Members live on other servers: Agora has no local users.
		"usage":    map[string]any{"users": map[string]int{"total": 0, "activeMonth": 0, "activeHalfyear": 0}, "localPosts": 0},
		"metadata": s.nodeMetadata(r, len(cs)),
	}
	w.Header().Set("Content-Type",
		`application/json; profile="http://nodeinfo.diaspora.software/ns/schema/`+version+`#"`)
	json.NewEncoder(w).Encode(doc)
}

// nodeMetadata is NodeInfo's metadata: the instance's name and description
// from its settings, in plain text, under the names Misskey sends
// (packages/backend/src/server/NodeinfoServerService.ts) and reads first
// when it shows another server (metadata.nodeName, then metadata.name;
// nodeDescription, then description: getSiteName and getDescription in
// packages/backend/src/core/FetchInstanceMetadataService.ts).
func (s *server) nodeMetadata(r *http.Request, communities int) map[string]any {
	st := s.site(r)
	return map[string]any{
		"communities":     communities,
		"nodeName":        st.Name,
		"nodeDescription": clip(stripTags(string(st.Description)), 500),
	}
}
