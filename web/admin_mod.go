package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/agorafed/agora/community"
	"github.com/go-chi/chi/v5"
)

// ActorResolver turns what an admin types (@user@host or an actor URL)
// into an actor IRI; federation.Resolver does, with WebFinger.
type ActorResolver interface {
	ResolveActor(ctx context.Context, ref string) (string, error)
}

// modRoutes are the moderation actions of the admin console. They go
// through community.Moderation, as moderators' direct-message commands and
// the CLI do, logged as the admin's local account.
func (s *server) modRoutes(r chi.Router) {
	r.Post("/c/{name}/posts/{id:[0-9]+}/remove", s.modAction(s.removePost))
	r.Post("/c/{name}/posts/{id:[0-9]+}/restore", s.modAction(s.restorePost))
	r.Post("/c/{name}/posts/{id:[0-9]+}/pin", s.modAction(s.pinPost))
	r.Post("/c/{name}/posts/{id:[0-9]+}/unpin", s.modAction(s.unpinPost))
	r.Post("/c/{name}/ban", s.modAction(s.ban))
	r.Post("/c/{name}/unban", s.modAction(s.unban))
	r.Post("/c/{name}/mods/add", s.modAction(s.addMod))
	r.Post("/c/{name}/mods/remove", s.modAction(s.removeMod))
	r.Post("/c/{name}/domains/block", s.modAction(s.blockDomain))
	r.Post("/c/{name}/domains/unblock", s.modAction(s.unblockDomain))
	r.Post("/c/{name}/reports/{id:[0-9]+}/resolve", s.modAction(s.resolveReport))
	r.Post("/c/{name}/log/public", s.modAction(s.setLogPublic))
	r.Get("/domains", s.instanceDomains)
	r.Post("/domains/block", s.instanceBlock)
	r.Post("/domains/unblock", s.instanceUnblock)
}

// modAction runs one moderation action on the community in the URL and
// goes back to its moderation page with what was done.
func (s *server) modAction(act func(r *http.Request, c community.Community, by string) (string, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.Moderation == nil {
			http.NotFound(w, r)
			return
		}
		c, err := s.Communities.Get(r.Context(), chi.URLParam(r, "name"))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		done, err := act(r, c, community.LocalAccount(adminName(r)))
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.Log.Info("moderation", "community", c.Name, "admin", adminName(r), "done", done)
		http.Redirect(w, r, "/admin/c/"+c.Name+"/moderation?notice="+url.QueryEscape(done), http.StatusSeeOther)
	}
}

func (s *server) formPost(r *http.Request, c community.Community) (community.Post, error) {
	id, _ := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	p, err := s.Posts.ByID(r.Context(), id)
	if err != nil || p.CommunityID != c.ID {
		return community.Post{}, fmt.Errorf("post %d in %s: %w", id, c.Name, community.ErrNotFound)
	}
	return p, nil
}

func (s *server) removePost(r *http.Request, c community.Community, by string) (string, error) {
	p, err := s.formPost(r, c)
	if err != nil {
		return "", err
	}
	return "Removed " + p.ObjectID, s.Moderation.RemovePost(r.Context(), c, by, p, strings.TrimSpace(r.PostFormValue("reason")))
}

func (s *server) restorePost(r *http.Request, c community.Community, by string) (string, error) {
	p, err := s.formPost(r, c)
	if err != nil {
		return "", err
	}
	return "Restored " + p.ObjectID, s.Moderation.RestorePost(r.Context(), c, by, p)
}

// pinPost features a post, as `agora mod pin` does: logged, and sent as
// Add to the featured collection to threadiverse peers.
func (s *server) pinPost(r *http.Request, c community.Community, by string) (string, error) {
	p, err := s.formPost(r, c)
	if err != nil {
		return "", err
	}
	return "Pinned " + p.ObjectID, s.Moderation.Pin(r.Context(), c, by, p)
}

func (s *server) unpinPost(r *http.Request, c community.Community, by string) (string, error) {
	p, err := s.formPost(r, c)
	if err != nil {
		return "", err
	}
	return "Unpinned " + p.ObjectID, s.Moderation.Unpin(r.Context(), c, by, p)
}

// formActor reads an actor from a form: @user@host or a URL (looked up),
// or local:NAME where allowed.
func (s *server) formActor(r *http.Request, allowLocal bool) (string, error) {
	ref := strings.TrimSpace(r.PostFormValue("actor"))
	if ref == "" {
		return "", fmt.Errorf("%w actor: empty", community.ErrInvalid)
	}
	if strings.HasPrefix(ref, "local:") {
		if !allowLocal {
			return "", fmt.Errorf("%w actor %q: a fediverse account", community.ErrInvalid, ref)
		}
		return ref, ValidateAdminName(strings.TrimPrefix(ref, "local:"))
	}
	if s.Resolver == nil {
		return ref, nil
	}
	actor, err := s.Resolver.ResolveActor(r.Context(), ref)
	if err != nil {
		return "", fmt.Errorf("%w actor %q: %v", community.ErrInvalid, ref, err)
	}
	return actor, nil
}

func (s *server) ban(r *http.Request, c community.Community, by string) (string, error) {
	actor, err := s.formActor(r, false)
	if err != nil {
		return "", err
	}
	return "Banned " + actor, s.Moderation.Ban(r.Context(), c, by, actor,
		strings.TrimSpace(r.PostFormValue("reason")), r.PostFormValue("remove_posts") != "")
}

func (s *server) unban(r *http.Request, c community.Community, by string) (string, error) {
	actor := r.PostFormValue("actor")
	return "Unbanned " + actor, s.Moderation.Unban(r.Context(), c, by, actor)
}

func (s *server) addMod(r *http.Request, c community.Community, by string) (string, error) {
	actor, err := s.formActor(r, true)
	if err != nil {
		return "", err
	}
	role := community.Role(r.PostFormValue("role"))
	return "Made " + actor + " " + string(role), s.Moderation.AddModerator(r.Context(), c, by, actor, role)
}

func (s *server) removeMod(r *http.Request, c community.Community, by string) (string, error) {
	actor := r.PostFormValue("actor")
	return "Removed the role of " + actor, s.Moderation.RemoveModerator(r.Context(), c, by, actor)
}

func (s *server) blockDomain(r *http.Request, c community.Community, by string) (string, error) {
	n, err := s.Moderation.BlockDomain(r.Context(), &c, by, r.PostFormValue("domain"), strings.TrimSpace(r.PostFormValue("reason")))
	return fmt.Sprintf("Blocked %s (%d members removed)", r.PostFormValue("domain"), n), err
}

func (s *server) unblockDomain(r *http.Request, c community.Community, by string) (string, error) {
	return "Unblocked " + r.PostFormValue("domain"), s.Moderation.UnblockDomain(r.Context(), &c, by, r.PostFormValue("domain"))
}

func (s *server) resolveReport(r *http.Request, c community.Community, by string) (string, error) {
	id, _ := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	return "Resolved report " + strconv.FormatInt(id, 10), s.Moderation.ResolveReport(r.Context(), c, by, id)
}

func (s *server) setLogPublic(r *http.Request, c community.Community, by string) (string, error) {
	public := r.PostFormValue("public") == "true"
	what := "The moderation log is now private"
	if public {
		what = "The moderation log is now public"
	}
	return what, s.Moderation.SetLogPublic(r.Context(), c, by, public)
}

// actorLabel shows an actor as @user@host when its document is cached.
func (s *server) actorLabel(ctx context.Context, actor string) pendingView {
	v := pendingView{Actor: actor, URL: webLink(actor), Label: actor}
	if name, ok := strings.CutPrefix(actor, "local:"); ok {
		v.Label = name + " (admin of " + s.Local.Host() + ")"
		return v
	}
	if a, err := s.Actors.RemoteActor(ctx, actor); err == nil && a.PreferredUsername != "" {
		if u, err := url.Parse(actor); err == nil {
			v.Label = "@" + a.PreferredUsername + "@" + u.Host
		}
		if l := webLink(a.URL); l != "" {
			v.URL = l
		}
	}
	return v
}

type modView struct {
	pendingView
	Role community.Role
}

type reportView struct {
	R        community.Report
	Reporter pendingView
	Targets  []pendingView
}

// moderationData gathers the moderation sections of a community's page.
func (s *server) moderationData(ctx context.Context, c community.Community, data map[string]any) error {
	if s.Moderation == nil {
		return nil
	}
	data["Mod"] = true
	mods, err := s.Moderation.Moderators(ctx, c)
	if err != nil {
		return err
	}
	var mv []modView
	for _, m := range mods {
		mv = append(mv, modView{pendingView: s.actorLabel(ctx, m.Actor), Role: m.Role})
	}
	data["Moderators"] = mv
	banned, err := s.Communities.Members(ctx, c, community.Banned, "", 200)
	if err != nil {
		return err
	}
	var bv []pendingView
	for _, m := range banned {
		bv = append(bv, s.actorLabel(ctx, m.Actor))
	}
	data["Banned"] = bv
	reports, err := s.Moderation.Reports(ctx, c, false)
	if err != nil {
		return err
	}
	var rv []reportView
	for _, rep := range reports {
		v := reportView{R: rep, Reporter: s.actorLabel(ctx, rep.Reporter)}
		for _, t := range rep.Targets {
			v.Targets = append(v.Targets, s.actorLabel(ctx, t))
		}
		rv = append(rv, v)
	}
	data["Reports"] = rv
	if data["Blocks"], err = s.Moderation.DomainBlocks(ctx, &c); err != nil {
		return err
	}
	if data["Entries"], err = s.Moderation.Log(ctx, c, 100); err != nil {
		return err
	}
	_, err = s.Moderation.PublicLog(ctx, c, 1)
	data["LogPublic"] = err == nil
	if err != nil && !errors.Is(err, community.ErrNotFound) {
		return err
	}
	return nil
}

func (s *server) instanceDomains(w http.ResponseWriter, r *http.Request) {
	if s.Moderation == nil {
		http.NotFound(w, r)
		return
	}
	blocks, err := s.Moderation.DomainBlocks(r.Context(), nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "admin_domains", map[string]any{"Blocks": blocks, "Notice": r.URL.Query().Get("notice")})
}

func (s *server) instanceBlock(w http.ResponseWriter, r *http.Request) {
	if s.Moderation == nil {
		http.NotFound(w, r)
		return
	}
	domain := r.PostFormValue("domain")
	n, err := s.Moderation.BlockDomain(r.Context(), nil, community.LocalAccount(adminName(r)), domain, strings.TrimSpace(r.PostFormValue("reason")))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.Log.Info("instance domain block", "domain", domain, "admin", adminName(r), "members_removed", n)
	http.Redirect(w, r, "/admin/domains?notice="+url.QueryEscape(fmt.Sprintf("Blocked %s (%d members removed)", domain, n)), http.StatusSeeOther)
}

func (s *server) instanceUnblock(w http.ResponseWriter, r *http.Request) {
	if s.Moderation == nil {
		http.NotFound(w, r)
		return
	}
	domain := r.PostFormValue("domain")
	if err := s.Moderation.UnblockDomain(r.Context(), nil, community.LocalAccount(adminName(r)), domain); err != nil {
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/domains?notice="+url.QueryEscape("Unblocked "+domain), http.StatusSeeOther)
}
