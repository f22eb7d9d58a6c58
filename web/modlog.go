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
func (s *server) publicLog(ctx context.Context, lg *lang, entries []community.LogEntry) []logLine {
	var out []logLine
	for _, e := range entries {
		l := logLine{At: e.At, Reason: e.Reason, Who: lg.T("modlog.who.mod")}
		if e.By == community.Admin || strings.HasPrefix(e.By, "local:") {
			l.Who = lg.T("modlog.who.admin")
		}
		person := func() {
			v := s.actorLabel(ctx, e.Target)
			if strings.HasPrefix(e.Target, "local:") {
				v = pendingView{Label: lg.T("modlog.target.admin")}
			}
			l.Target, l.TargetURL = v.Label, v.URL
		}
		post := func() { l.Target, l.TargetURL = lg.T("modlog.target.post"), webLink(e.Target) }
		switch e.Action {
		case "remove":
			l.Did = lg.T("modlog.did.remove")
			post()
		case "restore":
			l.Did = lg.T("modlog.did.restore")
			post()
		case "pin":
			l.Did = lg.T("modlog.did.pin")
			post()
		case "unpin":
			l.Did = lg.T("modlog.did.unpin")
			post()
		case "ban":
			l.Did = lg.T("modlog.did.ban")
			person()
		case "unban":
			l.Did = lg.T("modlog.did.unban")
			person()
		case "kick":
			l.Did = lg.T("modlog.did.kick")
			person()
		case "addmod":
			l.Did = lg.T("modlog.did.addmod")
			if e.Reason == string(community.RoleOwner) {
				l.Did = lg.T("modlog.did.addowner")
			}
			l.Reason = ""
			person()
		case "delmod":
			l.Did = lg.T("modlog.did.delmod")
			person()
		case "block":
			l.Did, l.Target = lg.T("modlog.did.block"), e.Target
		case "unblock":
			l.Did, l.Target = lg.T("modlog.did.unblock"), e.Target
		case "resolve":
			l.Did = lg.T("modlog.did.resolve")
		case "log-public":
			l.Did, l.Reason = lg.T("modlog.did.public"), ""
			if e.Reason == "false" {
				l.Did = lg.T("modlog.did.private")
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
