package main

import (
	"strings"
	"sync/atomic"

	"github.com/agorafed/agora/web"
)

// The command line speaks the language of the POSIX locale (LANG,
// LC_MESSAGES, LC_ALL, LANGUAGE: web.CLILang), English or French, with the
// messages of the pages' catalogs (web/locales, keys "cli.*"). Error
// messages, flag descriptions and table headers stay in English: they are
// what scripts and search engines match.

// cliLang is the language of the command being run, set by run from its
// environment.
var cliLang atomic.Pointer[string]

func setCLILang(env func(string) string) {
	code := web.CLILang(env)
	cliLang.Store(&code)
}

// tr returns a message of the command line in its language.
func tr(id string, args ...any) string {
	code := "en"
	if p := cliLang.Load(); p != nil {
		code = *p
	}
	return web.Translate(code, id, args...)
}

// commandWhat is what a command does, in the command line's language.
func commandWhat(c command) string {
	id := "cli.cmd." + strings.NewReplacer(" ", "_", "-", "_").Replace(c.name)
	if s := tr(id); s != id {
		return s
	}
	return c.what
}
