package web

import (
	"regexp"
	"strings"
)

// The console's handlers report what they did in the URL of the page they
// redirect to (?notice=Pinned https://...), in English, the words the tests
// and the logs use. noticeForms translates them when the page is shown: each
// form is a message with the variable parts as {{.A}} and {{.B}}. A notice
// no form matches is shown as it came.
var noticeForms = []struct {
	re *regexp.Regexp
	id string
}{
	{regexp.MustCompile(`^Saved$`), "notice.saved"},
	{regexp.MustCompile(`^Created (\S+)$`), "notice.created"},
	{regexp.MustCompile(`^Cleared (\S+)$`), "notice.cleared"},
	{regexp.MustCompile(`^Blocked (\S+) \((\d+) members removed\)$`), "notice.blocked"},
	{regexp.MustCompile(`^Unblocked (\S+)$`), "notice.unblocked"},
	{regexp.MustCompile(`^Removed the role of (\S+)$`), "notice.unmod"},
	{regexp.MustCompile(`^Removed (\S+)$`), "notice.removed"},
	{regexp.MustCompile(`^Restored (\S+)$`), "notice.restored"},
	{regexp.MustCompile(`^Pinned (\S+)$`), "notice.pinned"},
	{regexp.MustCompile(`^Unpinned (\S+)$`), "notice.unpinned"},
	{regexp.MustCompile(`^Banned (\S+)$`), "notice.banned"},
	{regexp.MustCompile(`^Unbanned (\S+)$`), "notice.unbanned"},
	{regexp.MustCompile(`^Made (\S+) (moderator|owner)$`), "notice.made"},
	{regexp.MustCompile(`^Approved (\S+)$`), "notice.approved"},
	{regexp.MustCompile(`^Rejected (\S+)$`), "notice.rejected"},
	{regexp.MustCompile(`^Resolved report (\d+)$`), "notice.resolved"},
	{regexp.MustCompile(`^Your password was changed\. Every other browser logged in as (\S+) was logged out\.$`), "notice.password"},
}

// translateNotice returns a console notice in l's language.
func translateNotice(l *lang, notice string) string {
	notice = strings.TrimSpace(notice)
	for _, f := range noticeForms {
		m := f.re.FindStringSubmatch(notice)
		if m == nil {
			continue
		}
		args := []any{}
		for i, v := range m[1:] {
			if f.id == "notice.made" && i == 1 {
				v = l.T("admin.mod.role." + v) // moderator, owner
			}
			args = append(args, string(rune('A'+i)), v)
		}
		if len(args) == 0 {
			args = []any{"A", ""} // not one count: a plain message
		}
		return l.T(f.id, args...)
	}
	return notice
}
