package web

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// catalog reads a catalog file as message id -> plural forms ("" for a
// plain message).
func catalog(t *testing.T, code string) map[string][]string {
	t.Helper()
	b, err := fs.ReadFile(localeFS, "locales/"+code+".toml")
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := toml.Unmarshal(b, &raw); err != nil {
		t.Fatalf("%s.toml: %v", code, err)
	}
	out := map[string][]string{}
	for k, v := range raw {
		switch v := v.(type) {
		case string:
			out[k] = nil
		case map[string]any:
			for form := range v {
				out[k] = append(out[k], form)
			}
			slices.Sort(out[k])
		default:
			t.Errorf("%s.toml: %s is a %T", code, k, v)
		}
	}
	return out
}

// TestCatalogs: both catalogs have the same messages, every plural the
// forms its language needs, and every message the templates and the Go
// code ask for exists.
func TestCatalogs(t *testing.T) {
	en, fr := catalog(t, "en"), catalog(t, "fr")
	wantForms := map[string][]string{"en": {"one", "other"}, "fr": {"many", "one", "other"}}
	for code, cat := range map[string]map[string][]string{"en": en, "fr": fr} {
		other := fr
		if code == "fr" {
			other = en
		}
		for id, forms := range cat {
			if _, ok := other[id]; !ok {
				t.Errorf("%s has %q, the other catalog does not", code, id)
			}
			if forms != nil && !slices.Equal(forms, wantForms[code]) {
				t.Errorf("%s: %q has forms %v, want %v", code, id, forms, wantForms[code])
			}
		}
	}
	used := map[string]string{}
	tmplRE := regexp.MustCompile(`\{\{-?\s*t "([^"]+)"`)
	goRE := regexp.MustCompile(`(?:\.T|\btr)\("([^"]+)"`)
	files, _ := filepath.Glob("templates/*.html")
	goFiles, _ := filepath.Glob("*.go")
	cliFiles, _ := filepath.Glob("../cmd/agora/*.go") // tr("cli...") of the command line
	goFiles = append(goFiles, cliFiles...)
	for _, f := range append(files, goFiles...) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		re := tmplRE
		if strings.HasSuffix(f, ".go") {
			re = goRE
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			used[m[1]] = f
		}
	}
	if len(used) < 50 {
		t.Fatalf("found %d message ids in use: the scan is broken", len(used))
	}
	for id, f := range used {
		if strings.HasSuffix(id, ".") { // "error." + code: checked below
			continue
		}
		if _, ok := en[id]; !ok {
			t.Errorf("%s uses %q, missing from the catalogs", f, id)
		}
	}
	for _, do := range []string{"reply", "boost", "like"} { // interact.html names them with printf
		for _, part := range []string{"title", "step"} {
			if _, ok := en["interact."+do+"."+part]; !ok {
				t.Errorf("no message interact.%s.%s", do, part)
			}
		}
	}
	for _, id := range []string{"admin.mod.decision.announce", "admin.mod.decision.refuse", "admin.mod.role.moderator", "admin.mod.role.owner"} {
		if _, ok := en[id]; !ok { // admin_moderation.html names them with printf
			t.Errorf("no message %s", id)
		}
	}
	for action := range logTargets { // publicLog names them as modlog.did.ACTION
		if _, ok := en["modlog.did."+action]; !ok {
			t.Errorf("no message modlog.did.%s", action)
		}
	}
	for code := range errorPages {
		for _, part := range []string{"title", "text"} {
			if _, ok := en["error."+strconv.Itoa(code)+"."+part]; !ok {
				t.Errorf("no message error.%d.%s", code, part)
			}
		}
	}
}

// TestLangFormats: plurals, numbers and dates per language.
func TestLangFormats(t *testing.T) {
	en, fr := langs["en"], langs["fr"]
	at := time.Date(2026, time.February, 3, 14, 5, 0, 0, time.UTC)
	tests := []struct{ got, want string }{
		{en.T("members", 0), "0 members"},
		{en.T("members", 1), "1 member"},
		{en.T("members", 1234), "1,234 members"},
		{fr.T("members", 0), "0 membre"},
		{fr.T("members", 1), "1 membre"},
		{fr.T("members", 2), "2 membres"},
		{fr.T("members", 1234), "1\u00a0234 membres"},
		{fr.T("members", 1000000), "1\u00a0000\u00a0000 de membres"},
		{fr.T("post.replies", 1), "1 réponse"},
		{en.Date(at), "3 Feb 2026, 14:05"},
		{fr.Date(at), "3 févr. 2026 à 14:05"},
		{fr.T("join.title", "Name", "Jardins"), "Rejoindre Jardins"},
		{fr.T("no.such.message"), "no.such.message"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/c/gardening?before=3": "/c/gardening?before=3",
		"/":                     "/",
		"":                      "/",
		"//evil.example/x":      "/",
		"/\\evil.example":       "/",
		"https://evil.example/": "/",
		"javascript:alert(1)":   "/",
		"c/relative":            "/",
		"/ok\r\nSet-Cookie: x":  "/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestNotices: the console's notices, in English as the handlers write
// them, are shown in the admin's language.
func TestNotices(t *testing.T) {
	en, fr := langs["en"], langs["fr"]
	tests := []struct{ notice, en, fr string }{
		{"Saved", "Saved", "Enregistré"},
		{"Pinned https://x.example/1", "Pinned https://x.example/1", "Épinglée\u00a0: https://x.example/1"},
		{"Blocked spam.example (3 members removed)", "Blocked spam.example (3 members removed)", "Bloqué\u00a0: spam.example (membres retirés\u00a0: 3)"},
		{"Made @a@b.example owner", "Made @a@b.example owner", "@a@b.example est désormais propriétaire"},
		{"Removed the role of @a@b.example", "Removed the role of @a@b.example", "Rôle retiré à\u00a0@a@b.example"},
		{"Something new", "Something new", "Something new"},
	}
	for _, tt := range tests {
		if got := translateNotice(en, tt.notice); got != tt.en {
			t.Errorf("en %q: %q", tt.notice, got)
		}
		want, _ := strconv.Unquote(`"` + tt.fr + `"`)
		if got := translateNotice(fr, tt.notice); got != want {
			t.Errorf("fr %q: %q, want %q", tt.notice, got, want)
		}
	}
}
