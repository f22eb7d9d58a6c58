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

// What an entry of the log names, by action; each action here has its
// words in the catalogs as modlog.did.ACTION.
const (
	targetNone = iota
	targetPost
	targetPerson
	targetDomain
)

var logTargets = map[string]int{
	"remove": targetPost, "restore": targetPost, "pin": targetPost, "unpin": targetPost,
	"ban": targetPerson, "unban": targetPerson, "kick": targetPerson, "addmod": targetPerson, "delmod": targetPerson,
	"block": targetDomain, "unblock": targetDomain,
	"resolve": targetNone,
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
		switch e.Action {
		case "approve", "reject":
			continue
		case "addmod":
			l.Did, l.Reason = lg.T("modlog.did.addmod"), ""
			if e.Reason == string(community.RoleOwner) {
				l.Did = lg.T("modlog.did.addowner")
			}
		case "log-public":
			l.Did, l.Reason = lg.T("modlog.did.public"), ""
			if e.Reason == "false" {
				l.Did = lg.T("modlog.did.private")
			}
		default:
			if _, ok := logTargets[e.Action]; ok {
				l.Did = lg.T("modlog.did." + e.Action)
			} else {
				l.Did = strings.ReplaceAll(e.Action, "-", " ")
			}
		}
		switch logTargets[e.Action] {
		case targetPost:
			l.Target, l.TargetURL = lg.T("modlog.target.post"), webLink(e.Target)
		case targetPerson:
			v := s.actorLabel(ctx, e.Target)
			if strings.HasPrefix(e.Target, "local:") {
				v = pendingView{Label: lg.T("modlog.target.admin")}
			}
			l.Target, l.TargetURL = v.Label, v.URL
		case targetDomain:
			l.Target = e.Target
		}
		out = append(out, l)
	}
	return out
}
