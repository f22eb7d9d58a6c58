// Package web is Agora's HTTP face: well-known endpoints, actor and
// collection documents with content negotiation, the inboxes, HTML pages,
// health and metrics. Handlers are thin: they call federation and community
// and map errors to statuses in one place (statusOf).
package web

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/httprate"
)

// MaxInboxBody is the largest activity an inbox reads (docs/protocol.md, "What Agora accepts").
const MaxInboxBody = 1 << 20

// Deps are what the web layer needs; cmd/agora wires them.
type Deps struct {
	Local           *federation.Local
	Docs            *federation.Documents
	Communities     *community.Service
	Posts           *community.Posts
	Moderation      *community.Moderation
	Activities      OutActivities
	Inbox           *federation.Inbox
	Keys            federation.KeyResolver // verifies signed GETs under authorized fetch
	AuthorizedFetch bool
	Limits          Limits // on the inboxes; zero: none
	// TrustedProxies are the CIDRs of the reverse proxies whose
	// X-Forwarded-For names the client, for every limit; nil:
	// DefaultTrustedProxies, empty: none (the TCP peer is the client).
	TrustedProxies []string
	Version        string
	Metrics        http.Handler // may be nil: no /metrics here
	// MetricsToken, when set, is the bearer token /metrics asks for; when
	// empty, /metrics is not served on this handler (the metrics are then
	// on metrics.listen, or nowhere).
	MetricsToken string
	// HTTPMetrics, when set, counts and times every request (route,
	// method, status).
	HTTPMetrics *HTTPMetrics
	Health      func(context.Context) error
	Admin       AdminStore     // admin accounts, sessions, media, settings
	Pages       PageStore      // read model of the HTML pages
	Actors      ActorReader    // cached remote actors: post authors
	Delivery    DeliveryStatus // the delivery status page
	Hosts       HostClearer    // its "clear host" button (federation.Deliverer)
	Finger      Finger         // WebFinger, for the Join, Write and Reply/Boost/Like forms
	Software    ServerSoftware // NodeInfo of a visitor's server, for the Write form; may be nil
	API         JSONGetter     // a visitor's server's JSON API (Lemmy's); may be nil
	AllowHTTP   bool           // WebFinger falls back to http (allow_private_addresses)
	Resolver    ActorResolver  // @user@host to actor IRI, for the moderation forms
	Log         *slog.Logger
	Now         func() time.Time
}

type server struct {
	Deps
	actorLimit *httprate.RateLimiter // inbox requests per verified actor; nil: none

	csrfOnce   sync.Once
	csrfSecret []byte // see csrfKey
}

// bearer serves next only to requests carrying the token: the metrics
// name the hosts Agora talks to and how its queues stand, which is the
// admin's to read, not the world's.
func bearer(token string, next http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="agora metrics"`)
			http.Error(w, "metrics: an Authorization: Bearer header with metrics.token is needed", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// OutActivities finds the activities Agora sent, by IRI.
type OutActivities interface {
	OutActivity(ctx context.Context, iri string) (federation.OutActivity, error)
}

// New returns the HTTP handler of the whole server.
func New(d Deps) http.Handler {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &server{Deps: d, actorLimit: actorLimiter(d.Limits)}
	r := chi.NewRouter()
	if d.TrustedProxies == nil {
		d.TrustedProxies = DefaultTrustedProxies
	}
	if d.HTTPMetrics != nil {
		r.Use(d.HTTPMetrics.middleware)
	}
	r.Use(clientIP(d.TrustedProxies), securityHeaders(strings.HasPrefix(d.Local.Base(), "http://")))
	r.NotFound(s.notFound)
	r.Get("/lang/{code}", s.setLang)
	r.Get("/.well-known/webfinger", s.webfinger)
	r.Get("/.well-known/host-meta", s.hostMeta)
	r.Get("/.well-known/nodeinfo", s.nodeinfoLinks)
	r.Get("/nodeinfo/{version:2\\.[01]}", s.nodeinfo)
	r.Get("/healthz", s.healthz)
	if d.Metrics != nil && d.MetricsToken != "" {
		r.Method(http.MethodGet, "/metrics", bearer(d.MetricsToken, d.Metrics))
	}
	r.Get("/actor", s.instanceLevelActor(d.Docs.InstanceActor))
	r.Get("/moderation", s.instanceLevelActor(d.Docs.ModerationActor))
	r.Get("/actor/outbox", s.instanceOutbox)
	r.Get("/moderation/outbox", s.instanceOutbox)
	limited := inboxLimits(d.Limits)
	r.With(limited...).Post("/inbox", s.inbox)
	r.With(limited...).Post("/actor/inbox", s.inbox)
	r.Handle("/static/*", http.StripPrefix("/static/", staticHandler()))
	r.Get("/favicon.svg", favicon)
	r.Get("/favicon.ico", favicon)
	r.Get("/media/{id:[0-9a-f]{32}\\.(png|jpg)}", s.media)
	// The HTML pages and forms: sessions and CSRF apply to them, not to the
	// inboxes above, whose requests are signed instead.
	r.Group(func(r chi.Router) {
		r.Use(s.withAdmin, s.csrfProtect)
		r.Get("/", s.home)
		// Join, Write and Reply/Boost/Like look the visitor's server up:
		// one limit for the three.
		lookups := limitByClient(JoinLookups, time.Minute, httprate.WithLimitHandler(s.tooMany))
		r.Get("/c/{name}/join", s.joinForm)
		r.With(lookups).Post("/c/{name}/join", s.join)
		r.Get("/c/{name}/write", s.writeForm)
		r.With(lookups).Post("/c/{name}/write", s.write)
		r.Get("/c/{name}/p/{id:[0-9]+}/{do:reply|boost|like}", s.interactForm)
		r.With(lookups).Post("/c/{name}/p/{id:[0-9]+}/{do:reply|boost|like}", s.interact)
		r.Route("/admin", s.adminRoutes)
	})
	r.Route("/c/{name}", func(r chi.Router) {
		r.Use(s.withAdmin)
		r.Get("/", s.communityActor)
		r.With(limited...).Post("/inbox", s.inbox)
		r.Get("/followers", s.followers)
		r.Get("/outbox", s.outbox)
		r.Get("/p/{id:[0-9]+}", s.post)
		r.Get("/feed.atom", s.feed)
		r.Get("/{kind:[a-z]+}/{n:[0-9]+}", s.outActivity)
		r.Get("/featured", s.featured)
		r.Get("/moderators", s.moderators)
		r.Get("/modlog", s.modLog)
	})
	return r
}

// JoinLookups is how many Join, Write and Reply/Boost/Like forms one
// address may send a minute, together: each makes Agora look a server up,
// which must not become a free proxy.
const JoinLookups = 20

// Errors of the HTTP layer itself.
var (
	errTooLarge    = errors.New("request body too large")
	errContentType = errors.New("unsupported content type")
)

// statusOf maps an error to its HTTP status: the one place that does.
func statusOf(err error) int {
	var maxErr *http.MaxBytesError
	switch {
	case errors.Is(err, federation.ErrBusy): // before ErrNotVerified: a key it waited for without its slot
		return http.StatusServiceUnavailable
	case errors.As(err, &maxErr), errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errContentType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, federation.ErrNotVerified):
		return http.StatusUnauthorized
	case errors.Is(err, errRateLimited), errors.Is(err, federation.ErrOverBudget):
		return http.StatusTooManyRequests
	case errors.Is(err, errCSRF):
		return http.StatusForbidden
	case errors.Is(err, federation.ErrMalformed), errors.Is(err, community.ErrInvalid), errors.Is(err, errBadForm),
		errors.Is(err, federation.ErrBadHandle):
		return http.StatusBadRequest
	case errors.Is(err, community.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, community.ErrGone):
		return http.StatusGone
	case errors.Is(err, community.ErrExists):
		return http.StatusConflict
	case errors.Is(err, community.ErrNotAllowed):
		return http.StatusForbidden
	default:
		return http.StatusInternalServerError
	}
}

// fail answers with the error's status. Server errors are logged and their
// detail kept from the client; client errors say what was wrong.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := statusOf(err)
	msg := err.Error()
	if code >= 500 {
		s.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error"
	}
	if code == http.StatusUnauthorized {
		// Fedify and Mastodon retry with draft-cavage after a 401.
		w.Header().Set("WWW-Authenticate", `Signature realm="agora",headers="(request-target) host date digest"`)
	} else if browser(r) {
		// A person gets a page in the site's look, in their language;
		// the page says in plain words what the status means.
		detail := ""
		if errors.Is(err, errCSRF) {
			detail = s.lang(r).T("error.csrf")
		}
		s.errorPage(w, r, code, detail)
		return
	}
	http.Error(w, msg, code)
}

// wantsAS2 tells whether the client asks for ActivityStreams rather than
// HTML.
func wantsAS2(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		switch mt {
		case "application/activity+json":
			return true
		case "application/ld+json":
			// Only the ActivityStreams profile, or ld+json with no profile.
			if !strings.Contains(params, "profile") || strings.Contains(params, "https://www.w3.org/ns/activitystreams") {
				return true
			}
		}
	}
	return false
}

// as2ContentType answers with the type the client asked for, as Mastodon
// does: ld+json with the profile to who asked for that, else activity+json.
func as2ContentType(r *http.Request) string {
	if strings.Contains(r.Header.Get("Accept"), "application/ld+json") &&
		!strings.Contains(r.Header.Get("Accept"), "application/activity+json") {
		return `application/ld+json; profile="https://www.w3.org/ns/activitystreams"`
	}
	return "application/activity+json"
}

func (s *server) writeAS2(w http.ResponseWriter, r *http.Request, body []byte, err error) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", as2ContentType(r))
	w.Header().Add("Vary", "Accept")
	w.Write(body)
}

func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.Health != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.Health(ctx); err != nil {
			s.Log.Error("health check failed", "err", err)
			http.Error(w, "unhealthy", http.StatusServiceUnavailable)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}
