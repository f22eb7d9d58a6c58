package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/go-chi/chi/v5"
)

// MembersPage is how many members the console lists at a time.
const MembersPage = 100

// memberRoutes are the console's member list of a community, with remove
// and ban, and the deletion of a community.
func (s *server) memberRoutes(r chi.Router) {
	r.Get("/c/{name}/members", s.members)
	r.Post("/c/{name}/members/remove", s.memberAction(s.removeMember))
	r.Post("/c/{name}/members/ban", s.memberAction(s.banMember))
	r.Get("/c/{name}/delete", s.deleteCommunityForm)
	r.Post("/c/{name}/delete", s.deleteCommunity)
}

type memberRow struct {
	pendingView
	Since time.Time
	N     int
}

// members lists a community's members (or, with ?pending=1, its join
// requests), MembersPage at a time in the order of their actor IRIs.
func (s *server) members(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	c, err := s.Communities.Get(ctx, chi.URLParam(r, "name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	q := r.URL.Query()
	pending := q.Get("pending") != ""
	state := community.Joined
	if pending {
		state = community.Pending
	}
	ms, err := s.Communities.Members(ctx, c, state, q.Get("after"), MembersPage+1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	next := ""
	if len(ms) > MembersPage {
		ms = ms[:MembersPage]
		v := url.Values{"after": {ms[len(ms)-1].Actor}}
		if pending {
			v.Set("pending", "1")
		}
		next = "/admin/c/" + c.Name + "/members?" + v.Encode()
	}
	rows := make([]memberRow, len(ms))
	for i, m := range ms {
		rows[i] = memberRow{pendingView: s.actorLabel(ctx, m.Actor), Since: m.CreatedAt, N: i}
	}
	joined, err := s.Communities.CountMembers(ctx, c, community.Joined)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	waiting, err := s.Communities.CountMembers(ctx, c, community.Pending)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "admin_members", map[string]any{
		"C": c, "Pending": pending, "Rows": rows, "Next": next, "PageSize": MembersPage,
		"Joined": joined, "Waiting": waiting, "Back": r.URL.RequestURI(), "Notice": q.Get("notice"),
	})
}

// memberAction runs an action on the member a form names and goes back to
// the list page it came from, with what was done.
func (s *server) memberAction(act func(r *http.Request, c community.Community, by, actor string) (string, error)) http.HandlerFunc {
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
		actor := strings.TrimSpace(r.PostFormValue("actor"))
		done, err := act(r, c, community.LocalAccount(adminName(r)), actor)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.Log.Info("member action", "community", c.Name, "admin", adminName(r), "done", done)
		back := "/admin/c/" + c.Name + "/members"
		// Only back to a list page of this community: the field must not
		// send the admin anywhere else.
		if b := r.PostFormValue("back"); strings.HasPrefix(b, back) && !strings.ContainsAny(b, "\\\r\n") {
			back = b
		}
		u, _ := url.Parse(back)
		q := u.Query()
		q.Set("notice", done)
		u.RawQuery = q.Encode()
		http.Redirect(w, r, u.String(), http.StatusSeeOther)
	}
}

func (s *server) removeMember(r *http.Request, c community.Community, by, actor string) (string, error) {
	return "Removed " + actor + "; they may join again", s.Moderation.RemoveMember(r.Context(), c, by, actor, "")
}

func (s *server) banMember(r *http.Request, c community.Community, by, actor string) (string, error) {
	return "Banned " + actor, s.Moderation.Ban(r.Context(), c, by, actor, strings.TrimSpace(r.PostFormValue("reason")), false)
}

// deleteCommunityForm asks the admin to confirm a deletion by typing the
// community's name.
func (s *server) deleteCommunityForm(w http.ResponseWriter, r *http.Request) {
	s.deletePage(w, r, http.StatusOK, "", "")
}

func (s *server) deletePage(w http.ResponseWriter, r *http.Request, status int, confirm, msg string) {
	c, err := s.Communities.Get(r.Context(), chi.URLParam(r, "name"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	members, err := s.Communities.CountMembers(r.Context(), c, community.Joined)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, status, "admin_delete", map[string]any{"C": c, "Handle": s.handle(c), "Members": members,
		"Confirm": confirm, "Error": msg})
}

// deleteCommunity deletes a community when the form names it: members'
// servers are sent Delete{Group}, as `agora community delete` does.
func (s *server) deleteCommunity(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	confirm := strings.TrimSpace(r.PostFormValue("confirm"))
	if confirm != name {
		s.deletePage(w, r, http.StatusBadRequest, confirm, "Type the community's name, "+name+", to delete it.")
		return
	}
	c, err := s.Communities.Get(r.Context(), name)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.Communities.Delete(r.Context(), name); err != nil {
		s.fail(w, r, err)
		return
	}
	s.Log.Info("community deleted", "community", name, "admin", adminName(r))
	http.Redirect(w, r, "/admin?notice="+url.QueryEscape("Deleted "+s.handle(c)+"; members' servers are told"), http.StatusSeeOther)
}
