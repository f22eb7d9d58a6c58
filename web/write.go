package web

// "Write a post" and Reply / Boost / Like: Agora has no accounts, so a
// visitor writes and interacts from their own server. The forms ask for
// their handle (or use the one Join remembered), find their server
// (remote.go) and send them to the page of their server that does it, or,
// where their server has none, give them the text to paste and the steps.
// Everything works without JavaScript: a form, a redirect, a page.

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/agorafed/agora/community"
	"github.com/go-chi/chi/v5"
)

// Server families, by NodeInfo software.name, and how each writes a post.
var (
	// Mastodon and its forks open their composer at /share?text=
	// (mastodon/mastodon app/controllers/shares_controller.rb: the text
	// is params title, text and url joined); Share₂Fedi's list of the
	// forks that keep it (kytta/share2fedi src/lib/project.ts).
	mastodonShare = map[string]bool{"mastodon": true, "hometown": true, "fedibird": true, "glitchcafe": true}
	// Misskey and its forks: /share?text=&visibility=public
	// (misskey-dev/misskey packages/frontend/src/pages/share.vue reads
	// text, title, url, visibility and localOnly); forks as Share₂Fedi
	// lists them.
	misskeyShare = map[string]bool{"misskey": true, "sharkey": true, "firefish": true, "calckey": true, "foundkey": true, "meisskey": true}
)

// writeForm is the page behind "Write a post": the text to write, the
// handle form that sends the visitor to their own composer, and how
// posting works.
func (s *server) writeForm(w http.ResponseWriter, r *http.Request) {
	c, err := s.Communities.Get(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "write", s.writeData(w, r, c, rememberedHandle(r)))
}

func (s *server) writeData(w http.ResponseWriter, r *http.Request, c community.Community, you string) map[string]any {
	return map[string]any{
		"C": c, "Handle": s.handle(c), "Host": s.Local.Host(), "Text": s.handle(c) + " ", "You": you, "CSRF": s.csrfToken(w, r),
	}
}

// write sends the visitor to their server's composer with the community
// mentioned (public visibility chosen where the server lets a link choose
// it), to their server's new-post page for the community (Lemmy, Mbin), or
// shows the text to paste and the steps.
func (s *server) write(w http.ResponseWriter, r *http.Request) {
	c, err := s.Communities.Get(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	you := strings.TrimSpace(r.PostFormValue("handle"))
	data := s.writeData(w, r, c, you)
	l := s.lang(r)
	ctx, cancel := context.WithTimeout(r.Context(), lookupTimeout)
	defer cancel()
	v, ok, err := s.postedVisitor(ctx, w, r, "write", data, you, true)
	if !ok {
		return
	}
	if err != nil {
		s.Log.Info("write: server not found", "community", c.Name, "server", v.Host, "err", err)
		data["Manual"], data["Problem"] = true, l.T("handle.unreachable", "Server", v.Host)
		s.render(w, r, http.StatusOK, "write", data)
		return
	}
	target, family := s.composeURL(ctx, v, c, data["Text"].(string))
	if target != "" {
		if u, err := s.safeURL(target); err == nil {
			http.Redirect(w, r, u, http.StatusSeeOther)
			return
		}
	}
	s.Log.Info("write: steps", "community", c.Name, "server", v.Host, "software", v.Software)
	data["Manual"], data["Family"], data["Software"] = true, family, v.Software
	s.render(w, r, http.StatusOK, "write", data)
}

// composeURL is where the visitor writes a post to c on their server, or
// "" where their server has no page for it; family names the steps the
// page shows then ("gotosocial", "threadiverse", "" for the general ones).
func (s *server) composeURL(ctx context.Context, v visitor, c community.Community, text string) (target, family string) {
	switch sw := v.Software; {
	case mastodonShare[sw]:
		return v.Web + "/share?text=" + url.QueryEscape(text), ""
	case misskeyShare[sw]:
		return v.Web + "/share?text=" + url.QueryEscape(text) + "&visibility=public", ""
	case sw == "lemmy":
		return s.lemmyCompose(ctx, v, c), ""
	case sw == "mbin":
		// Mbin's new-thread form of a magazine, which names a remote
		// one name@host (MbinOrg/mbin config/mbin_routes/entry.yaml,
		// magazine_entry_create: /m/{name}/new_entry).
		return v.Web + "/m/" + url.PathEscape(c.Name+"@"+s.Local.Host()) + "/new_entry", ""
	case sw == "gotosocial":
		// GoToSocial has no web composer: its users post from a client
		// app (superseriousbusiness/gotosocial README.md, "Backend-first
		// design": it "doesn't include an integrated client front-end").
		return "", "gotosocial"
	case sw == "piefed" || sw == "kbin":
		// Threadiverse servers whose new-post URL we could not check in
		// their source: the steps say to open the community there.
		return "", "threadiverse"
	}
	// Pleroma and Akkoma front ends have no composer URL (pleroma-fe
	// src/boot/routes.js has none), nor have Friendica and others that we
	// could not check: the text and the steps.
	return "", ""
}

// lemmyCompose is Lemmy's new-post page for the community as the
// visitor's instance knows it, /create_post?communityId=N (LemmyNet/lemmy-ui
// src/shared/components/post/create-post.tsx, getCreatePostQueryParams),
// N from its API (GET /api/v3/community?name=name@host, which Lemmy
// resolves with resolve_actor_identifier in
// crates/api_crud/src/community/read.rs). An instance that does not know
// the community yet gets its search for it, /search?q=!name@host&type=Communities
// (lemmy-ui src/shared/components/search.tsx, getSearchQueryParams),
// where a logged-in visitor finds it and subscribes.
func (s *server) lemmyCompose(ctx context.Context, v visitor, c community.Community) string {
	name := c.Name + "@" + s.Local.Host()
	if s.API != nil {
		var got struct {
			CommunityView struct {
				Community struct {
					ID int64 `json:"id"`
				} `json:"community"`
			} `json:"community_view"`
		}
		err := s.API.GetJSON(ctx, v.Web+"/api/v3/community?name="+url.QueryEscape(name), &got)
		if id := got.CommunityView.Community.ID; err == nil && id > 0 {
			return v.Web + "/create_post?communityId=" + strconv.FormatInt(id, 10)
		}
		s.Log.Info("write: lemmy does not know the community", "server", v.Web, "err", err)
	}
	return v.Web + "/search?q=" + url.QueryEscape("!"+name) + "&type=Communities"
}

// interactForm asks for the visitor's handle to reply to, boost or like a
// post from their server.
func (s *server) interactForm(w http.ResponseWriter, r *http.Request) {
	c, p, ok := s.interactPost(w, r)
	if !ok {
		return
	}
	s.render(w, r, http.StatusOK, "interact", s.interactData(w, r, c, p, rememberedHandle(r)))
}

func (s *server) interactData(w http.ResponseWriter, r *http.Request, c community.Community, p community.Post, you string) map[string]any {
	views, _ := s.views(r.Context(), c, []community.Post{p})
	var v postView
	if len(views) == 1 {
		v = views[0]
	}
	return map[string]any{
		"C": c, "Handle": s.handle(c), "Post": v, "Do": chi.URLParam(r, "do"), "URI": p.ObjectID,
		"You": you, "CSRF": s.csrfToken(w, r),
	}
}

// interactPost is the post a Reply/Boost/Like form is about: shown ones
// only.
func (s *server) interactPost(w http.ResponseWriter, r *http.Request) (community.Community, community.Post, bool) {
	c, err := s.Communities.Get(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		s.fail(w, r, err)
		return c, community.Post{}, false
	}
	id, _ := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	p, err := s.Posts.ByID(r.Context(), id)
	if err != nil || p.CommunityID != c.ID || !visible(p) {
		if err != nil && !errors.Is(err, community.ErrNotFound) {
			s.fail(w, r, err)
			return c, p, false
		}
		s.notFound(w, r)
		return c, p, false
	}
	return c, p, true
}

// interact sends the visitor to their server's remote-interaction page
// with the post's id at its origin, where they reply, boost or like it as
// themselves; a server without one gets the address to paste in its
// search and the steps.
func (s *server) interact(w http.ResponseWriter, r *http.Request) {
	c, p, ok := s.interactPost(w, r)
	if !ok {
		return
	}
	you := strings.TrimSpace(r.PostFormValue("handle"))
	data := s.interactData(w, r, c, p, you)
	l := s.lang(r)
	ctx, cancel := context.WithTimeout(r.Context(), lookupTimeout)
	defer cancel()
	v, ok, err := s.postedVisitor(ctx, w, r, "interact", data, you, false)
	if !ok {
		return
	}
	target := ""
	if err == nil {
		target, err = s.interactionURL(v, p.ObjectID)
	}
	if err != nil {
		s.Log.Info("interact: no remote interaction", "server", v.Host, "err", err)
		data["Manual"] = true
		if !errors.Is(err, errNoTemplate) {
			data["Problem"] = l.T("handle.unreachable", "Server", v.Host)
		}
		s.render(w, r, http.StatusOK, "interact", data)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// postedVisitor looks up the handle a Write or Reply/Boost/Like form
// posted (with the server's software when software is set). An invalid
// handle gives page back with 400 and ok false; otherwise the handle is
// remembered, data names the visitor's server, and err says whether the
// lookup failed after the handle parsed.
func (s *server) postedVisitor(ctx context.Context, w http.ResponseWriter, r *http.Request, page string, data map[string]any,
	you string, software bool) (v visitor, ok bool, err error) {
	v, err = s.lookupVisitor(ctx, you, software)
	if v.Host == "" {
		data["Error"] = s.lang(r).T("handle.invalid")
		s.render(w, r, http.StatusBadRequest, page, data)
		return v, false, err
	}
	s.rememberHandle(w, you)
	data["Server"], data["ServerURL"] = v.Host, v.Web
	return v, true, err
}
