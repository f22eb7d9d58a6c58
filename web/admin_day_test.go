package web_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/web"
)

// multipartForm is a console form with files, in the order given (a
// browser sends fields in document order).
type formField struct {
	name, value string
	file        []byte // a file part when not nil
}

func (b *client) postMultipart(path string, fields []formField) (*http.Response, string) {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("csrf", b.csrf())
	for _, f := range fields {
		if f.file == nil {
			mw.WriteField(f.name, f.value)
			continue
		}
		w, _ := mw.CreateFormFile(f.name, f.value)
		w.Write(f.file)
	}
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return b.do(req)
}

func pngBytes(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		img.Set(x, x%h, color.RGBA{200, 80, 40, 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// An upload that is too large, or not an image, gives the form back with
// the message and every other field as typed; nothing is saved. A good
// image sent along is kept for the next try; images can be removed.
func TestConsoleUploadErrorsKeepTheForm(t *testing.T) {
	c := newConsole(t)
	b := c.admin()
	good := pngBytes(t, 64, 64)
	huge := bytes.Repeat([]byte{0x89}, web.MaxImageBytes+1<<20)   // 9 MiB
	beyond := bytes.Repeat([]byte{0x89}, web.MaxUploadBody+1<<20) // over the body limit
	text := []formField{{name: "name", value: "knitting"}, {name: "title", value: "Knitting Circle"},
		{name: "summary", value: "Yarn, *needles* and patience."}, {name: "rules", value: "Be kind."},
		{name: "posting", value: "open"}, {name: "approval", value: "1"}}
	tests := []struct {
		name     string
		files    []formField
		status   int
		messages []string
		kept     bool // the good avatar is kept in the form
	}{
		{"avatar over 8 MiB", []formField{{name: "avatar", value: "big.png", file: huge}}, http.StatusRequestEntityTooLarge,
			[]string{"Avatar: the file &#34;big.png&#34; is 9.0 MiB; images may be up to 8 MiB."}, false},
		{"cover over the form's limit", []formField{{name: "avatar", value: "a.png", file: good}, {name: "cover", value: "huge.png", file: beyond}},
			http.StatusRequestEntityTooLarge, []string{"Cover image: the file &#34;huge.png&#34; is larger than the 64 MiB a form may send"}, true},
		{"not an image", []formField{{name: "avatar", value: "a.png", file: good}, {name: "cover", value: "notes.txt", file: []byte("hello")}},
			http.StatusBadRequest, []string{"Cover image: the file &#34;notes.txt&#34; could not be used", "is not PNG, JPEG or GIF"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, page := b.postMultipart("/admin/communities/new", append(append([]formField{}, text...), tt.files...))
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tt.status, page)
			}
			for _, m := range append(tt.messages, `value="knitting"`, `value="Knitting Circle"`, "Yarn, *needles* and patience.",
				"Be kind.", `value="open" checked`, `name="approval" value="1" checked`) {
				if !strings.Contains(page, m) {
					t.Errorf("form shown again lacks %q", m)
				}
			}
			if kept := regexp.MustCompile(`name="avatar_id" value="[0-9a-f]{32}\.png"`).MatchString(page); kept != tt.kept {
				t.Errorf("good avatar kept in the form: %v, want %v", kept, tt.kept)
			}
			if _, err := c.svc.Get(context.Background(), "knitting"); !errors.Is(err, community.ErrNotFound) {
				t.Errorf("community created despite the error: %v", err)
			}
		})
	}

	// The next try, with the kept avatar and no file, creates it with that avatar.
	_, page := b.postMultipart("/admin/communities/new", append(append([]formField{}, text...),
		formField{name: "avatar", value: "a.png", file: good}, formField{name: "cover", value: "notes.txt", file: []byte("hello")}))
	kept := regexp.MustCompile(`name="avatar_id" value="([0-9a-f]{32}\.png)"`).FindStringSubmatch(page)
	if kept == nil {
		t.Fatal("no kept avatar")
	}
	resp, page := b.postMultipart("/admin/communities/new", append(append([]formField{}, text...), formField{name: "avatar_id", value: kept[1]}))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create with the kept avatar: %d\n%s", resp.StatusCode, page)
	}
	got, err := c.svc.Get(context.Background(), "knitting")
	if err != nil || got.Avatar != kept[1] || got.Title != "Knitting Circle" || !got.RequiresApproval || got.PostingPolicy != community.PostOpen {
		t.Fatalf("created %+v, %v", got, err)
	}

	// Remove the avatar; a made-up media id is refused.
	if resp, page := b.postMultipart("/admin/c/knitting", append(append([]formField{}, text[1:]...), formField{name: "avatar_id", value: strings.Repeat("ab", 16) + ".png"})); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown media id: %d, want 404\n%s", resp.StatusCode, page)
	}
	resp, _ = b.postMultipart("/admin/c/knitting", append(append([]formField{}, text[1:]...), formField{name: "avatar_id", value: kept[1]}, formField{name: "remove_avatar", value: "1"}))
	if got, _ := c.svc.Get(context.Background(), "knitting"); resp.StatusCode != http.StatusSeeOther || got.Avatar != "" {
		t.Fatalf("remove avatar: %d, avatar %q", resp.StatusCode, got.Avatar)
	}
}

// The console lists members, removes one (who may join again: Reject is
// sent, no ban) and bans another; it deletes a community only when its
// name is typed.
func TestConsoleMembersAndDelete(t *testing.T) {
	c := newConsole(t)
	cm := c.community("garden")
	ctx := context.Background()
	for i := range 3 {
		actor := fmt.Sprintf("https://social.example/users/u%d", i)
		if _, err := c.svc.Follow(ctx, cm, actor, actor+"/follows/1"); err != nil {
			t.Fatal(err)
		}
	}
	b := c.admin()
	resp, page := b.get("/admin/c/garden/members")
	if resp.StatusCode != 200 || strings.Count(page, `action="/admin/c/garden/members/remove"`) != 3 || !strings.Contains(page, "3 members") {
		t.Fatalf("members page: %d\n%s", resp.StatusCode, page)
	}
	steps := []struct {
		name   string
		path   string
		form   url.Values
		status int
		state  map[string]community.MemberState // after; "" state: no row
	}{
		{"remove u0", "/admin/c/garden/members/remove", url.Values{"actor": {"https://social.example/users/u0"}, "back": {"/admin/c/garden/members"}},
			http.StatusSeeOther, map[string]community.MemberState{"u0": "", "u1": community.Joined}},
		{"remove a non-member", "/admin/c/garden/members/remove", url.Values{"actor": {"https://social.example/users/nobody"}},
			http.StatusNotFound, nil},
		{"ban u1", "/admin/c/garden/members/ban", url.Values{"actor": {"https://social.example/users/u1"}, "reason": {"spam"}},
			http.StatusSeeOther, map[string]community.MemberState{"u1": community.Banned, "u2": community.Joined}},
		{"ban u1 again", "/admin/c/garden/members/ban", url.Values{"actor": {"https://social.example/users/u1"}},
			http.StatusConflict, nil},
	}
	for _, s := range steps {
		resp, body := b.post(s.path, "ok", s.form)
		if resp.StatusCode != s.status {
			t.Fatalf("%s: %d, want %d\n%s", s.name, resp.StatusCode, s.status, body)
		}
		if s.status == http.StatusSeeOther && !strings.HasPrefix(resp.Header.Get("Location"), "/admin/c/garden/members?notice=") {
			t.Errorf("%s: back to %q", s.name, resp.Header.Get("Location"))
		}
		for u, want := range s.state {
			m, err := c.db.Member(ctx, cm.ID, "https://social.example/users/"+u)
			if (want == "" && !errors.Is(err, community.ErrNotFound)) || (want != "" && (err != nil || m.State != want)) {
				t.Errorf("%s: %s is %+v %v, want %q", s.name, u, m, err, want)
			}
		}
	}
	if sent := strings.Join(c.pub.sent(), " "); !strings.Contains(sent, "reject https://social.example/users/u0") {
		t.Errorf("remove sent %q, want a Reject to u0", sent)
	}
	// The back field cannot send the admin elsewhere.
	resp, _ = b.post("/admin/c/garden/members/remove", "ok", url.Values{"actor": {"https://social.example/users/u2"}, "back": {"https://evil.example/"}})
	if loc := resp.Header.Get("Location"); !strings.HasPrefix(loc, "/admin/c/garden/members?") {
		t.Errorf("back to %q", loc)
	}
	log, _ := c.mod.Log(ctx, cm, 10)
	if len(log) == 0 || log[0].Action != "kick" {
		t.Errorf("log %+v, want kick first", log)
	}

	// Delete: the form asks for the name.
	if resp, page := b.get("/admin/c/garden/delete"); resp.StatusCode != 200 || !strings.Contains(page, "Type the name") {
		t.Fatalf("delete form: %d\n%s", resp.StatusCode, page)
	}
	for _, wrong := range []string{"", "gardening", "Garden"} {
		resp, page := b.post("/admin/c/garden/delete", "ok", url.Values{"confirm": {wrong}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "to delete it") {
			t.Fatalf("confirm %q: %d\n%s", wrong, resp.StatusCode, page)
		}
		if _, err := c.svc.Get(ctx, "garden"); err != nil {
			t.Fatalf("deleted after confirm %q: %v", wrong, err)
		}
	}
	resp, _ = b.post("/admin/c/garden/delete", "ok", url.Values{"confirm": {"garden"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/admin?notice=Deleted") {
		t.Fatalf("delete: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := c.svc.Get(ctx, "garden"); !errors.Is(err, community.ErrGone) {
		t.Fatalf("after delete: %v", err)
	}
	if !strings.Contains(strings.Join(c.pub.sent(), " "), "delete") {
		t.Errorf("no Delete{Group}: %q", c.pub.sent())
	}
	if resp, _ := b.get("/admin/c/garden/members"); resp.StatusCode != http.StatusGone {
		t.Errorf("members of a deleted community: %d, want 410", resp.StatusCode)
	}
}

// The delivery page says why each failing host fails.
func TestConsoleDeliveryLastError(t *testing.T) {
	c := newConsole(t)
	ctx := context.Background()
	now := time.Now()
	c.db.HostFailed(ctx, "down.example", now.Add(-time.Hour), "dial tcp 192.0.2.1:443: connect: connection refused")
	c.db.HostFailed(ctx, "slow.example", now, "status 503")
	c.db.HostFailed(ctx, "back.example", now, "status 502")
	c.db.HostSucceeded(ctx, "back.example")
	_, page := c.admin().get("/admin/delivery")
	for _, want := range []string{"down.example", "connection refused", "slow.example", "status 503"} {
		if !strings.Contains(page, want) {
			t.Errorf("delivery page lacks %q", want)
		}
	}
	if strings.Contains(page, "status 502") {
		t.Errorf("a host that recovered still shows its old error")
	}
}

// README's nginx example lets through the bodies Agora reads.
func TestReadmeProxyBodyLimit(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("client_max_body_size %dm;", web.MaxUploadBody>>20)
	if !strings.Contains(string(readme), want) {
		t.Errorf("README's nginx example lacks %q (web.MaxUploadBody)", want)
	}
}
