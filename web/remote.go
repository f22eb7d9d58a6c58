package web

// A visitor's own server: the Join, Write a post and Reply/Boost/Like forms
// ask for the visitor's handle, look their server up and send them there,
// to a page of their own server that does the rest. One lookup for the
// three: WebFinger for the remote-interaction template and the actor (whose
// host serves the web pages), NodeInfo for the software.

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/agorafed/agora/federation"
)

// visitor is a visitor's server as their handle finds it.
type visitor struct {
	Handle   string // @you@your.server, as typed
	Host     string // the handle's domain
	Web      string // scheme://host of their server's pages (their actor's host)
	JRD      federation.JRD
	Software string // NodeInfo software.name in lower case, "" unknown
}

// lookupTimeout bounds a visitor lookup: WebFinger, NodeInfo and an API.
const lookupTimeout = 10 * time.Second

// rememberHandle keeps the visitor's handle for the next form (a year).
func (s *server) rememberHandle(w http.ResponseWriter, handle string) {
	http.SetCookie(w, &http.Cookie{
		Name: serverCookie, Value: url.QueryEscape(handle), Path: "/", HttpOnly: true, Secure: s.secure(),
		SameSite: http.SameSiteLaxMode, MaxAge: 365 * 24 * 3600,
	})
}

// rememberedHandle is the handle a form remembered, or "".
func rememberedHandle(r *http.Request) string {
	if ck, err := r.Cookie(serverCookie); err == nil {
		you, _ := url.QueryUnescape(ck.Value)
		return you
	}
	return ""
}

// lookupVisitor looks a handle up with WebFinger and, with withSoftware,
// asks the server's NodeInfo what it runs. An error means WebFinger
// failed: the server could not be reached or does not know the handle.
func (s *server) lookupVisitor(ctx context.Context, handle string, withSoftware bool) (visitor, error) {
	_, host, err := federation.SplitHandle(handle)
	if err != nil {
		return visitor{}, err
	}
	v := visitor{Handle: handle, Host: host, Web: "https://" + host}
	jrd, err := s.Finger.WebFinger(ctx, handle, s.AllowHTTP)
	if err != nil {
		return v, err
	}
	v.JRD = jrd
	if u, err := url.Parse(jrd.ActorIRI()); err == nil && u.Host != "" && (u.Scheme == "https" || (u.Scheme == "http" && s.AllowHTTP)) {
		v.Web = u.Scheme + "://" + u.Host
	}
	if withSoftware && s.Software != nil {
		sw, err := s.Software.Software(ctx, v.Web+"/")
		if err != nil {
			s.Log.Info("visitor's server: no NodeInfo", "server", v.Web, "err", err)
		}
		v.Software = sw
	}
	return v, nil
}

var errNoTemplate = errors.New("no remote follow template")

// interactionURL fills the visitor's server's remote-interaction template
// (WebFinger's http://ostatus.org/schema/1.0/subscribe link: Mastodon's
// /authorize_interaction?uri={uri}, app/serializers/webfinger_serializer.rb;
// Misskey's /authorize-follow?acct={uri}, whose page follows an actor and
// opens a note, packages/frontend/src/pages/follow.vue; Pleroma's
// /ostatus_subscribe?acct={uri}, gather_webfinger_links in
// lib/pleroma/web/activity_pub/publisher.ex) with an actor or a post. The template
// comes from a server Agora does not trust: only an https URL (http too in
// test setups) is followed, never javascript: or data:.
func (s *server) interactionURL(v visitor, uri string) (string, error) {
	tmpl := v.JRD.SubscribeTemplate()
	if tmpl == "" || !strings.Contains(tmpl, "{uri}") {
		return "", errNoTemplate
	}
	return s.safeURL(strings.ReplaceAll(tmpl, "{uri}", url.QueryEscape(uri)))
}

// safeURL returns target if it is an http(s) URL Agora may send a visitor
// to: https, or http in test setups.
func (s *server) safeURL(target string) (string, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" || !(u.Scheme == "https" || (u.Scheme == "http" && s.AllowHTTP)) {
		return "", errNoTemplate
	}
	return target, nil
}
