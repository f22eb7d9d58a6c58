package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/go-chi/chi/v5"
)

// LoginAttempts is how many login (and setup) posts one address may make a
// minute; httprate answers 429 to the rest.
const LoginAttempts = 10

// adminRoutes mounts the admin console under /admin.
func (s *server) adminRoutes(r chi.Router) {
	limit := limitByClient(LoginAttempts, time.Minute)
	r.Get("/login", s.loginForm)
	r.With(limit).Post("/login", s.login)
	r.Get("/setup", s.setupForm)
	r.With(limit).Post("/setup", s.setup)
	r.Group(func(r chi.Router) {
		r.Use(requireAdmin)
		r.Get("/", s.adminHome)
		r.Post("/logout", s.logout)
		r.Get("/communities/new", s.newCommunityForm)
		r.Post("/communities/new", s.createCommunity)
		r.Get("/c/{name}", s.editCommunityForm)
		r.Post("/c/{name}", s.editCommunity)
		r.Get("/c/{name}/moderation", s.moderation)
		r.Post("/c/{name}/approve", s.decideJoin(true))
		r.Post("/c/{name}/reject", s.decideJoin(false))
		r.Get("/settings", s.settingsForm)
		r.Post("/settings", s.saveSettings)
		r.Get("/delivery", s.delivery)
		r.Post("/delivery/clear", s.clearHost)
		s.modRoutes(r)
		s.memberRoutes(r)
		s.passwordRoutes(r)
	})
}

func (s *server) loginForm(w http.ResponseWriter, r *http.Request) {
	if adminName(r) != "" {
		http.Redirect(w, r, "/admin", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "admin_login", map[string]any{"CSRF": s.csrfToken(w, r)})
}

func (s *server) login(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	id, hash, err := s.Admin.AdminByName(r.Context(), name)
	if err != nil && !errors.Is(err, community.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	if !checkPassword(hash, r.PostFormValue("password")) {
		s.Log.Warn("admin login failed", "name", name, "remote", r.RemoteAddr)
		s.render(w, r, http.StatusUnauthorized, "admin_login", map[string]any{
			"CSRF": s.csrfToken(w, r), "Name": name, "Error": s.lang(r).T("admin.login.wrong"),
		})
		return
	}
	if err := s.startSession(w, r, id); err != nil {
		s.fail(w, r, err)
		return
	}
	s.Log.Info("admin logged in", "name", name)
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
}

func (s *server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := s.Admin.DeleteSession(r.Context(), tokenHash(c.Value)); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.secure(), SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *server) setupForm(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	valid, err := s.Admin.SetupTokenValid(r.Context(), tokenHash(token), s.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if !valid {
		status = http.StatusNotFound
	}
	// The token must not leak to other sites through Referer.
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.render(w, r, status, "admin_setup", map[string]any{"CSRF": s.csrfToken(w, r), "Token": token, "Valid": valid})
}

func (s *server) setup(w http.ResponseWriter, r *http.Request) {
	token, name := r.PostFormValue("token"), strings.TrimSpace(r.PostFormValue("name"))
	password := r.PostFormValue("password")
	data := map[string]any{"CSRF": s.csrfToken(w, r), "Token": token, "Valid": true, "Name": name}
	fail := func(status int, msg string) {
		data["Error"] = msg
		s.render(w, r, status, "admin_setup", data)
	}
	if err := ValidateAdminName(name); err != nil {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	if password != r.PostFormValue("confirm") {
		fail(http.StatusBadRequest, s.lang(r).T("admin.setup.differ"))
		return
	}
	hash, err := HashPassword(password)
	if err != nil {
		fail(http.StatusBadRequest, err.Error())
		return
	}
	id, err := s.Admin.CreateFirstAdmin(r.Context(), tokenHash(token), name, hash, s.Now())
	switch {
	case errors.Is(err, community.ErrNotFound):
		data["Valid"] = false
		fail(http.StatusNotFound, s.lang(r).T("admin.setup.expired"))
		return
	case errors.Is(err, community.ErrExists):
		fail(http.StatusConflict, s.lang(r).T("admin.setup.taken"))
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	s.Log.Info("first admin created", "name", name)
	if err := s.startSession(w, r, id); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
}

type adminRow struct {
	C                       community.Community
	Handle                  string
	Members, Pending, Posts int
}

func (s *server) adminHome(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	cs, err := s.Communities.List(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var rows []adminRow
	for _, c := range cs {
		row := adminRow{C: c, Handle: s.handle(c)}
		if row.Members, err = s.Communities.CountMembers(ctx, c, community.Joined); err == nil {
			if row.Pending, err = s.Communities.CountMembers(ctx, c, community.Pending); err == nil {
				row.Posts, err = s.Pages.CountPosts(ctx, c.ID, false)
			}
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		rows = append(rows, row)
	}
	depth, err := s.Delivery.QueueDepth(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "admin_home", map[string]any{
		"Rows": rows, "QueueDepth": depth, "Notice": r.URL.Query().Get("notice"),
	})
}

func (s *server) newCommunityForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "admin_community", map[string]any{
		"New": true, "Host": s.Local.Host(), "C": community.Community{PostingPolicy: community.PostMembers},
	})
}

// communityFromForm reads the editable fields and stores uploaded images.
// Every field is read even when an image is refused, so that the form
// shown again with the error keeps what the admin typed; an image that was
// good is stored and kept (avatar_id, cover_id) for the next try.
func (s *server) communityFromForm(r *http.Request, c *community.Community) error {
	c.Title = strings.TrimSpace(r.PostFormValue("title"))
	c.Summary = strings.TrimSpace(r.PostFormValue("summary"))
	c.Rules = strings.TrimSpace(r.PostFormValue("rules"))
	c.PostingPolicy = community.PostingPolicy(r.PostFormValue("posting"))
	c.RequiresApproval = r.PostFormValue("approval") != ""
	c.AnnounceReplies = r.PostFormValue("replies") != ""
	var errs []error
	for _, f := range []struct {
		field, label string
		dst          *string
	}{{"avatar", "Avatar", &c.Avatar}, {"cover", "Cover image", &c.Cover}} {
		// What the form showed: the image a failed try uploaded, or the
		// current one.
		if id := r.PostFormValue(f.field + "_id"); id != "" && id != *f.dst {
			if !mediaID.MatchString(id) {
				errs = append(errs, fmt.Errorf("%s: %w", f.field+"_id", errBadForm))
				continue
			}
			if _, _, err := s.Admin.Media(r.Context(), id); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", f.label, err))
				continue
			}
			*f.dst = id
		}
		if r.PostFormValue("remove_"+f.field) != "" {
			*f.dst = ""
		}
		u := formUpload(r, f.field)
		if u == nil {
			continue
		}
		if err := checkUpload(f.label, u); err != nil {
			errs = append(errs, err)
			continue
		}
		img, err := ReencodeImage(bytes.NewReader(u.Data))
		if err != nil {
			errs = append(errs, &uploadError{f.label, fmt.Sprintf("the file %q could not be used: %v", u.Name, err), err})
			continue
		}
		if err := s.Admin.PutMedia(r.Context(), img.ID, img.ContentType, img.Body, s.Now()); err != nil {
			return err
		}
		*f.dst = img.ID
	}
	return errors.Join(errs...)
}

// mediaID is the name of an uploaded image under /media/.
var mediaID = regexp.MustCompile(`^[0-9a-f]{32}\.(png|jpg)$`)

func (s *server) createCommunity(w http.ResponseWriter, r *http.Request) {
	c := community.Community{Name: strings.TrimSpace(r.PostFormValue("name"))}
	err := s.communityFromForm(r, &c)
	if err == nil {
		c, err = s.Communities.Create(r.Context(), c)
	}
	if err != nil {
		s.formError(w, r, "admin_community", err, map[string]any{"New": true, "Host": s.Local.Host(), "C": c})
		return
	}
	s.Log.Info("community created", "community", c.Name, "admin", adminName(r))
	http.Redirect(w, r, "/admin?notice="+url.QueryEscape("Created "+s.handle(c)), http.StatusSeeOther)
}

// formError shows a form again with what was wrong, for errors the admin
// can fix; others are failures.
func (s *server) formError(w http.ResponseWriter, r *http.Request, page string, err error, data map[string]any) {
	code := statusOf(err)
	if code >= 500 {
		s.fail(w, r, err)
		return
	}
	data["Error"] = err.Error()
	s.render(w, r, code, page, data)
}

func (s *server) editCommunityForm(w http.ResponseWriter, r *http.Request) {
	c, err := s.Communities.Get(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "admin_community", map[string]any{"Host": s.Local.Host(), "C": c,
		"Notice": r.URL.Query().Get("notice")})
}

func (s *server) editCommunity(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	old, err := s.Communities.Get(r.Context(), name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	edited := old
	if err := s.communityFromForm(r, &edited); err != nil {
		s.formError(w, r, "admin_community", err, map[string]any{"Host": s.Local.Host(), "C": edited})
		return
	}
	// Edit sends Update{Group}, so members' servers refresh name and images.
	c, err := s.Communities.Edit(r.Context(), name, func(c *community.Community) { *c = edited })
	if err != nil {
		s.formError(w, r, "admin_community", err, map[string]any{"Host": s.Local.Host(), "C": edited})
		return
	}
	http.Redirect(w, r, "/admin/c/"+c.Name+"?notice=Saved", http.StatusSeeOther)
}

type pendingView struct{ Actor, URL, Label string }

type modPost struct {
	postView
	Excerpt               string
	Removable, Restorable bool
	Pinned, Pinnable      bool
}

// ModerationPage is how many posts the console's moderation page lists at
// a time.
const ModerationPage = 50

func (s *server) moderation(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := s.Communities.Get(ctx, chi.URLParam(r, "name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	before, err := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	if r.URL.Query().Has("before") && (err != nil || before <= 0) {
		s.fail(w, r, fmt.Errorf("%w before: a post number", community.ErrInvalid))
		return
	}
	ms, err := s.Communities.Members(ctx, c, community.Pending, "", 200)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var pending []pendingView
	for _, m := range ms {
		pending = append(pending, s.actorLabel(ctx, m.Actor))
	}
	// Keyset paging by id, as the public feed: one more than a page tells
	// whether there is a next one.
	ps, err := s.Posts.List(ctx, c, before, ModerationPage+1, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	older := ""
	if len(ps) > ModerationPage {
		ps = ps[:ModerationPage]
		older = "/admin/c/" + c.Name + "/moderation?before=" + strconv.FormatInt(ps[len(ps)-1].ID, 10) + "#posts-h"
	}
	var pinned []community.Post
	if s.Moderation != nil {
		if pinned, err = s.Moderation.Pinned(ctx, c); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	isPinned := map[int64]bool{}
	for _, p := range pinned {
		isPinned[p.ID] = true
	}
	posts, err := s.modPosts(ctx, c, ps, isPinned)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	pinnedPosts, err := s.modPosts(ctx, c, pinned, isPinned)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	data := map[string]any{"C": c, "Pending": pending, "Posts": posts, "Pinned": pinnedPosts,
		"Older": older, "Paged": before > 0, "Notice": r.URL.Query().Get("notice")}
	if err := s.moderationData(ctx, c, data); err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "admin_moderation", data)
}

// modPosts prepares posts for the moderation page, with the actions each
// allows.
func (s *server) modPosts(ctx context.Context, c community.Community, ps []community.Post, pinned map[int64]bool) ([]modPost, error) {
	views, err := s.views(ctx, c, ps)
	if err != nil {
		return nil, err
	}
	posts := make([]modPost, len(views))
	for i, v := range views {
		ex := v.P.Title
		if ex == "" {
			ex = clip(stripTags(v.P.Content), 120)
		}
		if ex == "" {
			ex = "(no text)"
		}
		posts[i] = modPost{postView: v, Excerpt: ex,
			Removable:  v.P.Announced(),
			Restorable: v.P.Reason == community.ReasonRemoved && v.P.DeletedAt.IsZero(),
			Pinned:     pinned[v.P.ID],
			Pinnable:   v.P.Announced() && !pinned[v.P.ID],
		}
	}
	return posts, nil
}

// stripTags reduces sanitized HTML to its text, for excerpts; block
// elements become spaces, inline ones nothing.
func stripTags(h string) string {
	var b, tag strings.Builder
	in := false
	for _, r := range h {
		switch {
		case r == '<':
			in = true
			tag.Reset()
		case r == '>' && in:
			in = false
			name := strings.ToLower(strings.TrimPrefix(strings.Fields(tag.String() + " ")[0], "/"))
			switch strings.TrimSuffix(name, "/") {
			case "p", "br", "li", "div", "blockquote", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "hr":
				b.WriteByte(' ')
			}
		case in:
			tag.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&#39;", "'", "&#34;", `"`, "&quot;", `"`).Replace(b.String())
}

func (s *server) decideJoin(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name, actor := chi.URLParam(r, "name"), r.PostFormValue("actor")
		verb := "Approved"
		by := community.LocalAccount(adminName(r))
		c, err := s.Communities.Get(r.Context(), name)
		switch {
		case err != nil:
		case approve && s.Moderation != nil:
			err = s.Moderation.Approve(r.Context(), c, by, actor)
		case approve:
			err = s.Communities.Approve(r.Context(), name, actor)
		case s.Moderation != nil:
			verb = "Rejected"
			err = s.Moderation.Reject(r.Context(), c, by, actor)
		default:
			verb = "Rejected"
			err = s.Communities.Reject(r.Context(), name, actor)
		}
		if errors.Is(err, community.ErrNotProposed) {
			err = fmt.Errorf("%w: %v", community.ErrNotFound, err)
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.Log.Info("join decided", "community", name, "actor", actor, "approved", approve, "admin", adminName(r))
		http.Redirect(w, r, "/admin/c/"+name+"/moderation?notice="+url.QueryEscape(verb+" "+actor), http.StatusSeeOther)
	}
}

func (s *server) settingsForm(w http.ResponseWriter, r *http.Request) {
	set, err := s.Admin.Settings(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "admin_settings", map[string]any{
		"Name": set[settingName], "Description": set[settingDescription], "Notice": r.URL.Query().Get("notice"),
		"Language": set[settingLanguage], "Languages": languageChoices(),
	})
}

// languageChoices are the page languages for the default-language select,
// each named in its own language.
func languageChoices() []langLink {
	var out []langLink
	for _, code := range Languages {
		out = append(out, langLink{Code: code, Name: langs[code].Name})
	}
	return out
}

func (s *server) saveSettings(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	desc := strings.TrimSpace(r.PostFormValue("description"))
	language := r.PostFormValue("language")
	if _, ok := langs[language]; !ok && language != "" {
		language = ""
	}
	if len(name) > 100 || len(desc) > community.MaxSummary {
		s.render(w, r, http.StatusBadRequest, "admin_settings", map[string]any{
			"Name": name, "Description": desc, "Language": language, "Languages": languageChoices(),
			"Error": s.lang(r).T("admin.settings.too_long"),
		})
		return
	}
	for k, v := range map[string]string{settingName: name, settingDescription: desc, settingLanguage: language} {
		if err := s.Admin.SetSetting(r.Context(), k, v); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	http.Redirect(w, r, "/admin/settings?notice=Saved", http.StatusSeeOther)
}

func (s *server) delivery(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	depth, err := s.Delivery.QueueDepth(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	hosts, err := s.Delivery.HostStatuses(ctx, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// Worst first: unavailable, then failing longest, then most queued.
	slices.SortFunc(hosts, func(a, b federation.HostStatus) int {
		au, bu := !a.UnavailableSince.IsZero(), !b.UnavailableSince.IsZero()
		switch {
		case au != bu:
			if au {
				return -1
			}
			return 1
		case !a.FailingSince.Equal(b.FailingSince):
			if b.FailingSince.IsZero() || (!a.FailingSince.IsZero() && a.FailingSince.Before(b.FailingSince)) {
				return -1
			}
			return 1
		case a.Queued != b.Queued:
			return b.Queued - a.Queued
		}
		return strings.Compare(a.Host, b.Host)
	})
	s.render(w, r, http.StatusOK, "admin_delivery", map[string]any{
		"QueueDepth": depth, "Hosts": hosts, "Notice": r.URL.Query().Get("notice"),
	})
}

func (s *server) clearHost(w http.ResponseWriter, r *http.Request) {
	host := r.PostFormValue("host")
	if host == "" {
		s.fail(w, r, fmt.Errorf("%w host: empty", community.ErrInvalid))
		return
	}
	known, err := s.Hosts.ClearHost(r.Context(), host)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !known {
		s.fail(w, r, fmt.Errorf("host %s: %w", host, community.ErrNotFound))
		return
	}
	s.Log.Info("host cleared", "host", host, "admin", adminName(r))
	http.Redirect(w, r, "/admin/delivery?notice="+url.QueryEscape("Cleared "+host), http.StatusSeeOther)
}
