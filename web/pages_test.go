package web

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
)

func TestMarkdownIsSanitized(t *testing.T) {
	tests := []struct {
		src          string
		want, absent []string
	}{
		{"# Title\n\nSome *emphasis* and **strong**.", []string{"<h1>Title</h1>", "<em>emphasis</em>", "<strong>strong</strong>"}, nil},
		{"- one\n- two\n\n1. first", []string{"<ul>", "<li>one</li>", "<ol>"}, nil},
		{"[site](https://example.org/x)", []string{`<a href="https://example.org/x" rel="nofollow noreferrer">site</a>`}, nil},
		{"<script>alert(1)</script>", []string{"&lt;script&gt;alert(1)&lt;/script&gt;"}, []string{"<script"}},
		{"Say <b>hi</b> `<i>`", []string{"Say &lt;b&gt;hi&lt;/b&gt;", "<code>&lt;i&gt;</code>"}, []string{"<b>"}},
		{"<https://example.org/auto>", []string{`href="https://example.org/auto"`}, nil},
		{`<img src=x onerror=alert(1)>`, []string{"&lt;img"}, []string{"<img"}},
		{"[x](javascript:alert(1))", nil, []string{"javascript:"}},
		{"[x](JaVaScRiPt:alert(1))", nil, []string{"avaScRiPt:"}},
		{"![pic](https://example.org/p.png)", nil, []string{"<img"}}, // the admin's text carries no remote images
		{`<a href="https://x" onclick="evil()">x</a>`, nil, []string{`onclick="`, "<a "}},
	}
	for _, tt := range tests {
		got := string(Markdown(tt.src))
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("Markdown(%q) = %q, want it to contain %q", tt.src, got, w)
			}
		}
		for _, a := range tt.absent {
			if strings.Contains(strings.ToLower(got), strings.ToLower(a)) {
				t.Errorf("Markdown(%q) = %q, contains %q", tt.src, got, a)
			}
		}
	}
}

func picture(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		for y := range h {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 90, 255})
		}
	}
	return img
}

func encoded(t *testing.T, enc func(*bytes.Buffer) error) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := enc(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestReencodeImage(t *testing.T) {
	img := picture(40, 30)
	pngData := encoded(t, func(b *bytes.Buffer) error { return png.Encode(b, img) })
	jpgData := encoded(t, func(b *bytes.Buffer) error { return jpeg.Encode(b, img, nil) })
	gifData := encoded(t, func(b *bytes.Buffer) error { return gif.Encode(b, img, nil) })
	// A JPEG with an APP1 (EXIF) segment holding a "GPS position".
	exif := []byte("\xff\xe1\x00\x16Exif\x00\x00GPS 52.37N 4.89E")
	jpgExif := append(append(append([]byte{}, jpgData[:2]...), exif...), jpgData[2:]...)
	// A PNG with a tEXt chunk: re-encoding drops it.
	pngText := append([]byte{}, pngData[:33]...)
	pngText = append(pngText, []byte("\x00\x00\x00\x0ctEXtComment\x00secret\x00\x00\x00\x00")...)
	pngText = append(pngText, pngData[33:]...)
	// A PNG header that claims a huge canvas.
	huge := encoded(t, func(b *bytes.Buffer) error { return png.Encode(b, image.NewGray(image.Rect(0, 0, 7000, 7000))) })

	tests := []struct {
		name     string
		data     []byte
		wantType string
		wantErr  error
	}{
		{"png", pngData, "image/png", nil},
		{"jpeg with exif", jpgExif, "image/jpeg", nil},
		{"gif becomes png", gifData, "image/png", nil},
		{"svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), "", community.ErrInvalid},
		{"html named png", []byte("<html><script>alert(1)</script>"), "", community.ErrInvalid},
		{"truncated jpeg", jpgData[:len(jpgData)/3], "", community.ErrInvalid},
		{"too many pixels", huge, "", community.ErrInvalid},
		{"too many bytes", append(append([]byte{}, pngData...), make([]byte, MaxImageBytes)...), "", errTooLarge},
		{"empty", nil, "", community.ErrInvalid},
	}
	for _, tt := range tests {
		got, err := ReencodeImage(bytes.NewReader(tt.data))
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("%s: err %v, want %v", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got.ContentType != tt.wantType || http.DetectContentType(got.Body) != tt.wantType {
			t.Errorf("%s: type %s (sniffed %s), want %s", tt.name, got.ContentType, http.DetectContentType(got.Body), tt.wantType)
		}
		if bytes.Contains(got.Body, []byte("GPS")) || bytes.Contains(got.Body, []byte("Exif")) || bytes.Contains(got.Body, []byte("secret")) {
			t.Errorf("%s: metadata survived", tt.name)
		}
		back, _, err := image.Decode(bytes.NewReader(got.Body))
		if err != nil || back.Bounds().Dx() != 40 || back.Bounds().Dy() != 30 {
			t.Errorf("%s: re-encoded image does not decode to 40x30: %v", tt.name, err)
		}
		if !strings.HasSuffix(got.ID, map[string]string{"image/png": ".png", "image/jpeg": ".jpg"}[tt.wantType]) || len(got.ID) != 36 {
			t.Errorf("%s: id %q", tt.name, got.ID)
		}
	}
	// The PNG with a comment chunk still decodes as itself, without it.
	if got, err := ReencodeImage(bytes.NewReader(pngText)); err == nil && bytes.Contains(got.Body, []byte("secret")) {
		t.Error("tEXt chunk survived re-encoding")
	}
}

func TestWebLink(t *testing.T) {
	for u, want := range map[string]bool{
		"https://mastodon.example/@alice":  true,
		"http://127.0.0.1:8080/notes/1":    true,
		"javascript:alert(1)":              false,
		" javascript:alert(1)":             false,
		"JAVASCRIPT:alert(1)":              false,
		"data:text/html,<script>":          false,
		"//evil.example/x":                 false,
		"":                                 false,
		"vbscript:msgbox":                  false,
		"https:///nohost":                  false,
		"ftp://files.example/x":            false,
		"https://example.org/a?b=<script>": true, // escaped by html/template in an attribute
	} {
		if got := webLink(u) != ""; got != want {
			t.Errorf("webLink(%q) kept = %v, want %v", u, got, want)
		}
	}
}

func TestStripTagsAndClip(t *testing.T) {
	if got := stripTags("<p>Seeds, <strong>soil</strong> &amp; sun.</p><ul><li>a</li></ul>"); strings.Join(strings.Fields(got), " ") != "Seeds, soil & sun. a" {
		t.Errorf("stripTags: %q", got)
	}
	if got := clip("one two three four", 9); got != "one two…" {
		t.Errorf("clip: %q", got)
	}
	if got := clip(strings.Repeat("é", 20), 9); !strings.HasSuffix(got, "…") || !strings.HasPrefix(got, "éééé") {
		t.Errorf("clip cut a rune: %q", got)
	}
}

func TestSecurityHeadersAndCSRF(t *testing.T) {
	s := &server{Deps: Deps{Log: slog.New(slog.DiscardHandler)}}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := securityHeaders(false)(s.csrfProtect(ok))
	form := func(csrfCookie, field, contentType string) *http.Request {
		v := url.Values{"x": {"1"}}
		if field != "" {
			v.Set("csrf", field)
		}
		r := httptest.NewRequest(http.MethodPost, "/admin/settings", strings.NewReader(v.Encode()))
		r.Header.Set("Content-Type", contentType)
		if csrfCookie != "" {
			r.AddCookie(&http.Cookie{Name: "agora_csrf", Value: csrfCookie})
		}
		return r
	}
	// loggedIn is r as withAdmin leaves it for the session whose cookie
	// is session.
	loggedIn := func(r *http.Request, session string) *http.Request {
		return r.WithContext(context.WithValue(r.Context(), adminKey{}, sessionAdmin{1, "root", session}))
	}
	cookie := randomToken()
	anon := httptest.NewRequest(http.MethodGet, "/", nil)
	token := s.csrfFor(anon, cookie) // what the login form carries
	mine, theirs := randomToken(), randomToken()
	mineToken := s.csrfFor(loggedIn(anon, mine), cookie)
	theirToken := s.csrfFor(loggedIn(anon, theirs), cookie)
	urlenc := "application/x-www-form-urlencoded"
	tests := []struct {
		name string
		r    *http.Request
		want int
	}{
		{"GET needs no token", httptest.NewRequest(http.MethodGet, "/admin", nil), http.StatusNoContent},
		{"the cookie's token", form(cookie, token, urlenc), http.StatusNoContent},
		{"no token", form(cookie, "", urlenc), http.StatusForbidden},
		{"no cookie", form("", token, urlenc), http.StatusForbidden},
		{"other token", form(cookie, randomToken(), urlenc), http.StatusForbidden},
		// Plain double submit: a planted cookie and a field that repeats it.
		{"the cookie's value itself", form(cookie, cookie, urlenc), http.StatusForbidden},
		{"a token for another cookie", form(randomToken(), token, urlenc), http.StatusForbidden},
		{"logged in, the session's token", loggedIn(form(cookie, mineToken, urlenc), mine), http.StatusNoContent},
		{"logged in, no CSRF cookie needed", loggedIn(form("", mineToken, urlenc), mine), http.StatusNoContent},
		// A pair the attacker got for their own cookie, planted on the admin.
		{"logged in, a visitor's token", loggedIn(form(cookie, token, urlenc), mine), http.StatusForbidden},
		{"logged in, another session's token", loggedIn(form(cookie, theirToken, urlenc), mine), http.StatusForbidden},
		{"token in the query only", func() *http.Request {
			r := form(cookie, "", urlenc)
			r.URL.RawQuery = "csrf=" + token
			return r
		}(), http.StatusForbidden},
		{"body too large", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/admin/settings", strings.NewReader("csrf="+token+"&x="+strings.Repeat("a", maxFormBody)))
			r.Header.Set("Content-Type", urlenc)
			r.AddCookie(&http.Cookie{Name: "agora_csrf", Value: cookie})
			return r
		}(), http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, tt.r)
		if w.Code != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, w.Code, tt.want)
		}
		csp := w.Header().Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", tt.name, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "http:") {
			t.Errorf("%s: CSP %q allows inline code or plain http", tt.name, csp)
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Referrer-Policy") == "" {
			t.Errorf("%s: headers %v", tt.name, w.Header())
		}
	}
}

func TestCheckPassword(t *testing.T) {
	if _, err := HashPassword("short"); !errors.Is(err, community.ErrInvalid) {
		t.Errorf("short password: %v", err)
	}
	if _, err := HashPassword(strings.Repeat("x", 73)); !errors.Is(err, community.ErrInvalid) {
		t.Errorf("73-byte password: %v", err)
	}
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batter": false, "": false} {
		if got := checkPassword(h, pw); got != want {
			t.Errorf("checkPassword(%q) = %v", pw, got)
		}
	}
	if checkPassword("", "") || checkPassword("", "anything at all") {
		t.Error("an unknown admin logged in")
	}
}

// BenchmarkReencodeImage measures an upload's decode and re-encode: a
// 1200x300 cover as JPEG and a 256x256 avatar as PNG.
func BenchmarkReencodeImage(b *testing.B) {
	for _, tt := range []struct {
		name string
		enc  func(*bytes.Buffer) error
	}{
		{"cover-jpeg-1200x300", func(buf *bytes.Buffer) error { return jpeg.Encode(buf, picture(1200, 300), nil) }},
		{"avatar-png-256x256", func(buf *bytes.Buffer) error { return png.Encode(buf, picture(256, 256)) }},
	} {
		var buf bytes.Buffer
		if err := tt.enc(&buf); err != nil {
			b.Fatal(err)
		}
		b.Run(tt.name, func(b *testing.B) {
			b.SetBytes(int64(buf.Len()))
			for b.Loop() {
				if _, err := ReencodeImage(bytes.NewReader(buf.Bytes())); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMarkdown measures rendering and sanitizing a community
// description, which happens on every page view.
func BenchmarkMarkdown(b *testing.B) {
	src := strings.Repeat("## Welcome\n\nSeeds, *soil* and **sun**. See [the wiki](https://example.org/wiki).\n\n- vegetables\n- flowers\n\n", 5)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		Markdown(src)
	}
}

// sessionsOnly is an AdminStore that only records sessions.
type sessionsOnly struct{ AdminStore }

func (sessionsOnly) AddSession(context.Context, string, int64, time.Time, time.Time) error {
	return nil
}

func TestCookiesSecureUnderHTTPS(t *testing.T) {
	for base, wantSecure := range map[string]bool{"https://groups.example.org": true, "http://127.0.0.1:8080": false} {
		u, _ := url.Parse(base)
		s := &server{Deps: Deps{Local: federation.NewLocal(u, nil, nil), Admin: sessionsOnly{}, Now: time.Now}}
		s.csrfOnce.Do(func() { s.csrfSecret = []byte("a key") }) // this Local has no key store
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/admin/login", nil)
		if err := s.startSession(w, r, 1); err != nil {
			t.Fatal(err)
		}
		s.csrfToken(w, r)
		cookies := w.Result().Cookies()
		if len(cookies) != 2 {
			t.Fatalf("%s: cookies %v", base, cookies)
		}
		for _, c := range cookies {
			if c.Secure != wantSecure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || len(c.Value) < 43 {
				t.Errorf("%s: cookie %s: Secure=%v HttpOnly=%v SameSite=%v", base, c.Name, c.Secure, c.HttpOnly, c.SameSite)
			}
		}
	}
}
