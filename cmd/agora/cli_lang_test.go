package main

import (
	"context"
	"strings"
	"testing"
)

// TestCLILanguage: the command line speaks the language of the locale
// (LANG and the others, as gettext reads them), English by default; every
// command has its line in both.
func TestCLILanguage(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		vars map[string]string
		want []string
	}{
		{"no locale", nil, []string{"Usage:", "create a community", "Messages follow LANG"}},
		{"LANG=fr_FR.UTF-8", map[string]string{"LANG": "fr_FR.UTF-8"}, []string{"Utilisation\u00a0:", "créer une communauté", "les serveurs bloqués"}},
		{"LC_ALL over LANG", map[string]string{"LANG": "fr_FR.UTF-8", "LC_ALL": "C"}, []string{"Usage:", "create a community"}},
		{"LANGUAGE list", map[string]string{"LANGUAGE": "de:fr", "LANG": "de_DE.UTF-8"}, []string{"Utilisation\u00a0:"}},
		{"German: English", map[string]string{"LANG": "de_DE.UTF-8"}, []string{"Usage:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := func(k string) string {
				if k == "AGORA_DATA_DIR" {
					return dir
				}
				return tt.vars[k]
			}
			var out, errOut strings.Builder
			if err := run(context.Background(), []string{"help"}, &out, &errOut, env); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("help lacks %q:\n%s", w, out.String())
				}
			}
			for _, c := range commands {
				if w := commandWhat(c); w == "" {
					t.Errorf("%s: no description", c.name)
				}
			}
		})
	}
	// A command's answer, in French.
	fr := func(k string) string {
		switch k {
		case "AGORA_DATA_DIR":
			return dir
		case "LANG":
			return "fr_FR.UTF-8"
		}
		return ""
	}
	var out, errOut strings.Builder
	if err := run(context.Background(), []string{"community", "create", "jardins", "--title", "Jardins"}, &out, &errOut, fr); err != nil {
		t.Fatalf("%v: %s", err, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "jardins créée\u00a0: ") {
		t.Errorf("community create in French: %q", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"community", "--help"}, &out, &errOut, fr); err != nil || !strings.Contains(out.String(), "créer une communauté") {
		t.Errorf("community --help in French: %v %q", err, out.String())
	}
}
