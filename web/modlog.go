package web

import (
	"context"
	"strings"
	"time"

	"github.com/agorafed/agora/community"
)

// logLine is an entry of a public moderation log in words: what was done
// and why, by "a moderator" or "an administrator", never a login name or
// the moderator's account (as Lemmy's modlog can hide moderators' names).
type logLine struct {
	At        time.Time
	Who, Did  string // "A moderator", "removed a post"
	Target    string // a post's or account's label, "" for none
	TargetURL string
	Reason    string
}

// publicLog words a community's log for its public page. Join decisions
// are left out: who asked to join is nobody else's business.
func (s *server) publicLog(ctx context.Context, entries []community.LogEntry) []logLine {
	var out []logLine
	for _, e := range entries {
		l := logLine{At: e.At, Reason: e.Reason, Who: "A moderator"}
		if e.By == community.Admin || strings.HasPrefix(e.By, "local:") {
			l.Who = "An administrator"
		}
		person := func() {
			v := s.actorLabel(ctx, e.Target)
			if strings.HasPrefix(e.Target, "local:") {
				v = pendingView{Label: "an administrator"}
			}
			l.Target, l.TargetURL = v.Label, v.URL
		}
		post := func() { l.Target, l.TargetURL = "this post", webLink(e.Target) }
		switch e.Action {
		case "remove":
			l.Did = "removed a post"
			post()
		case "restore":
			l.Did = "restored a post"
			post()
		case "pin":
			l.Did = "pinned a post"
			post()
		case "unpin":
			l.Did = "unpinned a post"
			post()
		case "ban":
			l.Did = "banned"
			person()
		case "unban":
			l.Did = "lifted the ban of"
			person()
		case "kick":
			l.Did = "removed from the community"
			person()
		case "addmod":
			l.Did = "made a " + e.Reason + ":"
			if e.Reason == string(community.RoleOwner) {
				l.Did = "made an owner:"
			}
			l.Reason = ""
			person()
		case "delmod":
			l.Did = "took the moderator role from"
			person()
		case "block":
			l.Did, l.Target = "blocked the server", e.Target
		case "unblock":
			l.Did, l.Target = "unblocked the server", e.Target
		case "resolve":
			l.Did = "resolved a report"
		case "log-public":
			l.Did, l.Reason = "made this log public", ""
			if e.Reason == "false" {
				l.Did = "made this log private"
			}
		case "approve", "reject":
			continue
		default:
			l.Did = strings.ReplaceAll(e.Action, "-", " ")
		}
		out = append(out, l)
	}
	return out
}
