package web

import (
	"context"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
)

// FeedPage is the number of posts on one page of a community's feed.
const FeedPage = 20

// dirEntry is one community in the directory.
type dirEntry struct {
	C       community.Community
	Handle  string
	Avatar  string
	Initial string
	Summary string
	Members int
	PerWeek int
}

// home is the instance's front page: its name and description and the
// directory of communities, searchable and sortable.
func (s *server) home(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	cs, err := s.Communities.List(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	members, err := s.Pages.MemberCounts(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	week, err := s.Pages.AnnouncedCountsSince(ctx, s.Now().Add(-7*24*time.Hour))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	sortBy := r.URL.Query().Get("sort")
	if sortBy != "activity" && sortBy != "name" {
		sortBy = "members"
	}
	var entries []dirEntry
	for _, c := range cs {
		if q != "" && !matches(c, q) {
			continue
		}
		entries = append(entries, dirEntry{
			C: c, Handle: s.handle(c), Avatar: s.mediaURL(c.Avatar), Initial: initial(c.Title),
			Summary: clip(stripTags(string(Markdown(c.Summary))), 200), Members: members[c.ID], PerWeek: week[c.ID],
		})
	}
	slices.SortStableFunc(entries, func(a, b dirEntry) int {
		switch sortBy {
		case "activity":
			if a.PerWeek != b.PerWeek {
				return b.PerWeek - a.PerWeek
			}
		case "members":
			if a.Members != b.Members {
				return b.Members - a.Members
			}
		}
		return strings.Compare(a.C.Name, b.C.Name)
	})
	s.render(w, r, http.StatusOK, "home", map[string]any{"Entries": entries, "Query": q, "Sort": sortBy})
}

func matches(c community.Community, q string) bool {
	q = strings.ToLower(q)
	return strings.Contains(strings.ToLower(c.Name), q) || strings.Contains(strings.ToLower(c.Title), q) ||
		strings.Contains(strings.ToLower(c.Summary), q)
}

// clip shortens plain text to about n bytes, on a word boundary.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= n {
		return s
	}
	cut := strings.LastIndexByte(s[:n], ' ')
	if cut < n/2 {
		cut = n
		for !utf8.RuneStart(s[cut]) {
			cut--
		}
	}
	return s[:cut] + "…"
}

func initial(title string) string {
	for _, r := range title {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return strings.ToUpper(string(r))
		}
	}
	return "#"
}

func (s *server) handle(c community.Community) string { return "@" + c.Name + "@" + s.Local.Host() }

// mediaURL is the URL of an uploaded image ("" for none).
func (s *server) mediaURL(id string) string {
	if id == "" {
		return ""
	}
	return "/media/" + id
}

// postView is a post as the pages show it.
type postView struct {
	P            community.Post
	AuthorName   string
	AuthorHandle string
	AuthorURL    string
	AuthorIcon   string
	Content      template.HTML
	Images       []community.Attachment
	Others       []community.Attachment
	Replies      int
	Local        string // the post's page here
	Original     string // the post at its origin
	Reply        bool
}

// views prepares posts for a page: authors from the actor cache (no
// network: they were fetched when their posts arrived), reply counts, and
// attachments split into images and links.
func (s *server) views(ctx context.Context, c community.Community, ps []community.Post) ([]postView, error) {
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ObjectID
	}
	replies, err := s.Pages.ReplyCounts(ctx, c.ID, ids)
	if err != nil {
		return nil, err
	}
	authors := map[string]federation.RemoteActor{}
	out := make([]postView, 0, len(ps))
	for _, p := range ps {
		a, ok := authors[p.Author]
		if !ok {
			a, err = s.Actors.RemoteActor(ctx, p.Author)
			if err != nil && !errors.Is(err, community.ErrNotFound) {
				return nil, err
			}
			authors[p.Author] = a
		}
		v := postView{
			P: p, AuthorName: a.Name, AuthorURL: webLink(a.URL), AuthorIcon: webLink(a.Icon),
			// Content was sanitized when it was received (federation.SanitizeHTML).
			Content:  template.HTML(p.Content),
			Replies:  replies[p.ObjectID],
			Local:    "/c/" + c.Name + "/p/" + strconv.FormatInt(p.ID, 10),
			Original: webLink(p.URL),
			Reply:    p.InReplyTo != "",
		}
		if v.Original == "" {
			v.Original = webLink(p.ObjectID)
		}
		if v.AuthorURL == "" {
			v.AuthorURL = webLink(p.Author)
		}
		if u, err := url.Parse(p.Author); err == nil {
			user := a.PreferredUsername
			if user == "" {
				user = lastSegment(u.Path)
			}
			v.AuthorHandle = "@" + user + "@" + u.Host
		}
		if v.AuthorName == "" {
			v.AuthorName = v.AuthorHandle
		}
		for _, at := range p.Attachments {
			if webLink(at.URL) == "" {
				continue
			}
			if strings.HasPrefix(at.MediaType, "image/") {
				v.Images = append(v.Images, at)
			} else {
				v.Others = append(v.Others, at)
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// lastSegment returns the last element of a URL path.
func lastSegment(p string) string {
	p = strings.TrimSuffix(p, "/")
	return p[strings.LastIndexByte(p, '/')+1:]
}

// webLink returns u if it is an http(s) URL, else "": remote documents
// decide these links, and a javascript: URL must never become an href.
func webLink(u string) string {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return ""
	}
	return u
}

// communityPage is a community's front door: cover, avatar, name, handle,
// description, member count, rules, Join, and the feed of announced posts.
func (s *server) communityPage(w http.ResponseWriter, r *http.Request, c community.Community) {
	ctx := r.Context()
	members, err := s.Communities.CountMembers(ctx, c, community.Joined)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	ps, err := s.Posts.List(ctx, c, before, FeedPage, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	views, err := s.views(ctx, c, ps)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	older := ""
	if len(ps) == FeedPage {
		older = "/c/" + c.Name + "?before=" + strconv.FormatInt(ps[len(ps)-1].ID, 10)
	}
	var mods []modView
	var pinned []postView
	logPublic := false
	if s.Moderation != nil && before == 0 {
		// Pinned posts head the first page, as the featured collection
		// puts them first on members' servers.
		ps, err := s.Moderation.Pinned(ctx, c)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		shown := ps[:0]
		for _, p := range ps {
			if p.Announced() {
				shown = append(shown, p)
			}
		}
		if pinned, err = s.views(ctx, c, shown); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if s.Moderation != nil {
		ms, err := s.Moderation.Moderators(ctx, c)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, m := range ms {
			if m.Remote() { // local accounts are the admins, named below
				mods = append(mods, modView{pendingView: s.actorLabel(ctx, m.Actor), Role: m.Role})
			}
		}
		_, err = s.Moderation.PublicLog(ctx, c, 1)
		logPublic = err == nil
	}
	w.Header().Add("Vary", "Accept")
	s.render(w, r, http.StatusOK, "community", map[string]any{
		"C": c, "Handle": s.handle(c), "Host": s.Local.Host(), "Members": members,
		"Avatar": s.mediaURL(c.Avatar), "Cover": s.mediaURL(c.Cover), "Initial": initial(c.Title),
		"Description": Markdown(c.Summary), "Rules": Markdown(c.Rules),
		"Posts": views, "Pinned": pinned, "Older": older, "Moderators": mods, "LogPublic": logPublic,
		"Meta": s.communityMeta(r, c, members),
	})
}

// postPage shows a post with the replies stored for its thread.
func (s *server) postPage(w http.ResponseWriter, r *http.Request, c community.Community, p community.Post) {
	ctx := r.Context()
	root := p.ThreadRoot
	if root == "" {
		root = p.ObjectID
	}
	thread, err := s.Pages.ThreadPosts(ctx, c.ID, root, 500)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	shown := thread[:0]
	for _, t := range thread {
		if t.ID != p.ID && visible(t) {
			shown = append(shown, t)
		}
	}
	views, err := s.views(ctx, c, append([]community.Post{p}, shown...))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Add("Vary", "Accept")
	s.render(w, r, http.StatusOK, "post", map[string]any{"C": c, "Main": views[0], "Thread": views[1:],
		"Meta": s.postMeta(r, c, views[0])})
}
