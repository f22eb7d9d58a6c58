package community

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Command is a moderation command read from a moderator's direct message.
type Command struct {
	Name        string // one of Commands
	Target      string // @user@host or actor URL, post URL, domain or report number, as written
	Reason      string // the rest of the message, free text
	RemovePosts bool   // ban: also remove the member's posts (--remove-posts or -r)
}

// Errors of ParseCommand.
var (
	ErrUnknownCommand = errors.New("unknown command")
	ErrMissingTarget  = errors.New("missing argument")
)

// commandSpec says what a command takes and who may give it.
type commandSpec struct {
	arg       string // "" (none), "actor", "post", "domain" or "report"
	ownerOnly bool
	usage     string
}

// commands are the commands moderators give by direct message.
var commands = map[string]commandSpec{
	"help":    {usage: "help: this list"},
	"ban":     {arg: "actor", usage: "ban @user@host [--remove-posts] [reason]: remove a member and refuse their follows and posts"},
	"unban":   {arg: "actor", usage: "unban @user@host: lift a ban"},
	"remove":  {arg: "post", usage: "remove <post url> [reason]: take a post out of the community"},
	"restore": {arg: "post", usage: "restore <post url>: announce a removed post again"},
	"approve": {arg: "actor", usage: "approve @user@host: accept a join request"},
	"reject":  {arg: "actor", usage: "reject @user@host: refuse a join request"},
	"pending": {usage: "pending: list join requests"},
	"pin":     {arg: "post", usage: "pin <post url>: feature a post"},
	"unpin":   {arg: "post", usage: "unpin <post url>: stop featuring a post"},
	"block":   {arg: "domain", usage: "block domain.example [reason]: refuse a server's members and posts"},
	"unblock": {arg: "domain", usage: "unblock domain.example: lift a domain block"},
	"mods":    {usage: "mods: list the moderators"},
	"addmod":  {arg: "actor", ownerOnly: true, usage: "addmod @user@host: make someone a moderator (owners only)"},
	"delmod":  {arg: "actor", ownerOnly: true, usage: "delmod @user@host: remove a moderator (owners only)"},
	"reports": {usage: "reports: list open reports"},
	"resolve": {arg: "report", usage: "resolve <report number>: close a report"},
}

// commandOrder is the order help lists the commands in.
var commandOrder = []string{"ban", "unban", "remove", "restore", "approve", "reject", "pending",
	"pin", "unpin", "block", "unblock", "reports", "resolve", "mods", "addmod", "delmod", "help"}

// HelpText is what a community answers to help and to what it does not
// understand.
func HelpText() string {
	var b strings.Builder
	b.WriteString("Commands:")
	for _, name := range commandOrder {
		b.WriteString("\n")
		b.WriteString(commands[name].usage)
	}
	return b.String()
}

// Limits on what a command message may carry: a message is read whole,
// but a reason is kept short in the log and in replies.
const (
	MaxCommandText = 10000
	MaxReason      = 500
)

// ParseCommand reads a command from the plain text of a direct message.
// Leading mentions (@community, @community@host) are skipped: they address
// the message, they are not the command. The first word is the command,
// without case; the next is its argument when it takes one; the rest is
// the reason. Unknown commands wrap ErrUnknownCommand, a missing argument
// ErrMissingTarget; both are answered with help.
func ParseCommand(text string) (Command, error) {
	if len(text) > MaxCommandText {
		text = text[:MaxCommandText]
	}
	words := strings.Fields(text)
	for len(words) > 0 && strings.HasPrefix(words[0], "@") {
		words = words[1:]
	}
	if len(words) == 0 {
		return Command{Name: "help"}, fmt.Errorf("%w: empty message", ErrUnknownCommand)
	}
	name := strings.ToLower(strings.TrimRight(words[0], ":,.!"))
	spec, ok := commands[name]
	if !ok {
		return Command{Name: "help"}, fmt.Errorf("%w %q", ErrUnknownCommand, truncate(name, 40))
	}
	cmd := Command{Name: name}
	words = words[1:]
	if spec.arg != "" {
		if name == "ban" {
			words = cmd.takeFlags(words)
		}
		if len(words) == 0 {
			return cmd, fmt.Errorf("%w: %s", ErrMissingTarget, spec.usage)
		}
		cmd.Target = strings.TrimRight(words[0], ",;")
		words = words[1:]
		if name == "ban" {
			words = cmd.takeFlags(words)
		}
		if err := checkTarget(spec.arg, cmd.Target); err != nil {
			return cmd, fmt.Errorf("%w: %w: %s", ErrMissingTarget, err, spec.usage)
		}
	}
	cmd.Reason = truncate(strings.Join(words, " "), MaxReason)
	return cmd, nil
}

func (c *Command) takeFlags(words []string) []string {
	for len(words) > 0 && (words[0] == "--remove-posts" || words[0] == "-r") {
		c.RemovePosts = true
		words = words[1:]
	}
	return words
}

func checkTarget(kind, s string) error {
	switch kind {
	case "actor":
		if !strings.HasPrefix(s, "@") && !isHTTPURL(s) {
			return fmt.Errorf("%q is neither @user@host nor an actor URL", truncate(s, 80))
		}
	case "post":
		if !isHTTPURL(s) {
			return fmt.Errorf("%q is not a post URL", truncate(s, 80))
		}
	case "domain":
		if _, err := NormalizeDomain(s); err != nil {
			return err
		}
	case "report":
		if n, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64); err != nil || n <= 0 {
			return fmt.Errorf("%q is not a report number", truncate(s, 80))
		}
	}
	return nil
}

func isHTTPURL(s string) bool {
	return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
