package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/agorafed/agora/community"
	"github.com/agorafed/agora/federation"
	"golang.org/x/crypto/bcrypt"
)

// Cookie names.
const (
	sessionCookie = "agora_session"
	csrfCookie    = "agora_csrf"
	serverCookie  = "agora_server" // the visitor's handle, remembered by the Join form
)

// Lifetimes.
const (
	sessionTTL    = 30 * 24 * time.Hour
	setupTokenTTL = 24 * time.Hour
)

// MinPassword is the shortest password an admin may choose.
const MinPassword = 10

// maxFormBody bounds a form post; uploads are checked again per image.
const maxFormBody = 2*MaxImageBytes + 64<<10

var (
	errCSRF    = errors.New("missing or wrong CSRF token: reload the form and send it again")
	errBadForm = errors.New("malformed form")
)

// securityHeaders sets the headers every response carries: a strict
// Content-Security-Policy (scripts and styles only from Agora's own files,
// nothing inline, no framing), no MIME sniffing, and a referrer policy.
func securityHeaders(insecureBase bool) func(http.Handler) http.Handler {
	// Remote media (post images, author avatars) is linked, never proxied;
	// forms may be redirected to a visitor's own server (the Join flow).
	remote := "https:"
	if insecureBase {
		remote = "https: http:" // a plain-http test or closed-network setup
	}
	csp := "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' " + remote +
		"; media-src 'self' " + remote + "; form-action 'self' " + remote +
		"; frame-ancestors 'none'; base-uri 'none'"
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("Content-Security-Policy", csp)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Referrer-Policy", "same-origin")
			next.ServeHTTP(w, r)
		})
	}
}

// randomToken returns 32 random bytes, base64url.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenHash is what the database keeps of a session or setup token.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// HashPassword hashes an admin password with bcrypt.
func HashPassword(password string) (string, error) {
	if len(password) < MinPassword {
		return "", fmt.Errorf("%w password: use at least %d characters", community.ErrInvalid, MinPassword)
	}
	if len(password) > 72 {
		// bcrypt ignores what comes after 72 bytes: refuse rather than surprise.
		return "", fmt.Errorf("%w password: use at most 72 bytes", community.ErrInvalid)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(h), err
}

// ValidateAdminName checks an admin account name.
func ValidateAdminName(name string) error {
	if err := community.ValidateName(name); err != nil {
		return fmt.Errorf("%w admin name %q: use 1 to 64 characters from a-z, 0-9 and _", community.ErrInvalid, name)
	}
	return nil
}

// NewSetupLink makes a one-time link that creates the first admin account,
// valid for a day; `agora serve` prints it while there is no admin.
func NewSetupLink(ctx context.Context, store AdminStore, base string, now time.Time) (string, error) {
	token := randomToken()
	if err := store.AddSetupToken(ctx, tokenHash(token), now.UTC(), now.Add(setupTokenTTL).UTC()); err != nil {
		return "", fmt.Errorf("setup link: %w", err)
	}
	return strings.TrimSuffix(base, "/") + "/admin/setup?token=" + token, nil
}

// secure tells whether cookies get the Secure flag: when Agora is served
// over https (a TLS-terminating proxy in front).
func (s *server) secure() bool { return strings.HasPrefix(s.Local.Base(), "https://") }

// csrfToken returns the token the forms of this page carry, setting the
// visitor's CSRF cookie the first time. csrfProtect checks a posted form
// against the same computation.
func (s *server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
		return s.csrfFor(r, c.Value)
	}
	token := randomToken()
	http.SetCookie(w, &http.Cookie{
		Name: csrfCookie, Value: token, Path: "/", HttpOnly: true, Secure: s.secure(),
		SameSite: http.SameSiteLaxMode, MaxAge: int(sessionTTL / time.Second),
	})
	// The page being rendered must see the same token as the cookie.
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: token})
	return s.csrfFor(r, token)
}

// csrfFor is the form token of request r: an HMAC, under a key only this
// server has, of the session r is logged in with, else of the visitor's
// CSRF cookie. Comparing the form with the cookie alone (plain double
// submit) let anyone who can plant a cookie, from a sibling subdomain or
// with a cookie and token pair got for themselves, post as the admin; a
// token bound to the admin's session is one they cannot have.
func (s *server) csrfFor(r *http.Request, cookie string) string {
	m := hmac.New(sha256.New, s.csrfKey())
	if a, ok := r.Context().Value(adminKey{}).(sessionAdmin); ok && a.token != "" {
		m.Write([]byte("session\x00" + a.token))
	} else {
		m.Write([]byte("visitor\x00" + cookie))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfKey is derived from the instance's private key, so tokens outlive a
// restart; without one (tests of other parts) it is random per process.
func (s *server) csrfKey() []byte {
	s.csrfOnce.Do(func() {
		if s.Local != nil {
			if k, err := s.Local.PrivateKey(context.Background(), federation.InstanceKeyOwner); err == nil {
				sum := sha256.Sum256(append([]byte("agora csrf\x00"), x509.MarshalPKCS1PrivateKey(k)...))
				s.csrfSecret = sum[:]
				return
			}
		}
		s.csrfSecret = []byte(randomToken())
	})
	return s.csrfSecret
}

// csrfProtect refuses a state-changing request whose form does not carry
// the token csrfFor gives for its session (or, logged out, its cookie).
func (s *server) csrfProtect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		limit := int64(maxFormBody)
		if adminName(r) != "" {
			limit = MaxUploadBody // the console's image uploads: see readForm
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		r, err := readForm(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		cookie := ""
		if c, err := r.Cookie(csrfCookie); err == nil {
			cookie = c.Value
		}
		sent := r.PostFormValue("csrf")
		if sent == "" || (cookie == "" && adminName(r) == "") ||
			subtle.ConstantTimeCompare([]byte(s.csrfFor(r, cookie)), []byte(sent)) != 1 {
			s.Log.Warn("csrf refused", "path", r.URL.Path, "remote", r.RemoteAddr)
			s.fail(w, r, errCSRF)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type adminKey struct{}

// sessionAdmin is who a request's session logs in.
type sessionAdmin struct {
	id    int64
	name  string
	token string // the session cookie's value: CSRF tokens are bound to it
}

// adminName returns the logged-in admin of a request, or "".
func adminName(r *http.Request) string {
	a, _ := r.Context().Value(adminKey{}).(sessionAdmin)
	return a.name
}

// adminID returns the logged-in admin's account id, or 0.
func adminID(r *http.Request) int64 {
	a, _ := r.Context().Value(adminKey{}).(sessionAdmin)
	return a.id
}

// withAdmin puts the session's admin, if any, in the request context.
func (s *server) withAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
			id, name, err := s.Admin.SessionAdmin(r.Context(), tokenHash(c.Value), s.Now())
			if err == nil {
				r = r.WithContext(context.WithValue(r.Context(), adminKey{}, sessionAdmin{id, name, c.Value}))
			} else if !errors.Is(err, community.ErrNotFound) {
				s.fail(w, r, err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// requireAdmin sends a visitor who is not logged in to the login page.
func requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if adminName(r) == "" {
			if r.Method != http.MethodGet {
				http.Error(w, "log in first", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// startSession logs an admin in: a random token in an HttpOnly, SameSite=Lax
// cookie (Secure under https), its hash in the database.
func (s *server) startSession(w http.ResponseWriter, r *http.Request, adminID int64) error {
	token := randomToken()
	now := s.Now()
	if err := s.Admin.AddSession(r.Context(), tokenHash(token), adminID, now.UTC(), now.Add(sessionTTL).UTC()); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", HttpOnly: true, Secure: s.secure(),
		SameSite: http.SameSiteLaxMode, MaxAge: int(sessionTTL / time.Second),
	})
	return nil
}

// checkPassword compares a password with a stored hash; an unknown admin
// costs as much time as a known one, so names cannot be probed by timing.
func checkPassword(hash, password string) bool {
	known := hash != ""
	if !known {
		hash = dummyHash()
	}
	ok := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
	return ok && known
}

// dummyHash is a bcrypt hash of nothing anyone types.
var dummyHash = sync.OnceValue(func() string {
	h, _ := bcrypt.GenerateFromPassword([]byte(randomToken()), bcrypt.DefaultCost)
	return string(h)
})
