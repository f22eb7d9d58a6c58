package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// microblogSoftware are NodeInfo software names of servers that show a
// community's boost as Mastodon does: they take Announce{object id}, fetch
// the post from its origin, and ignore Announce{Create} (docs/protocol.md,
// the peer families).
var microblogSoftware = map[string]bool{
	"mastodon":   true, // glitch-soc reports "mastodon" too
	"hometown":   true, // Mastodon fork
	"gotosocial": true,
	"pleroma":    true,
	"akkoma":     true,
	// Misskey and its forks.
	"misskey":       true,
	"sharkey":       true,
	"firefish":      true,
	"calckey":       true, // Firefish's former name
	"foundkey":      true,
	"iceshrimp":     true,
	"iceshrimp.net": true,
	"catodon":       true,
	"cherrypick":    true,
	"hollo":         true, // Fedify-based single-user microblog
	"snac":          true,
	"takahe":        true,
	"mitra":         true, // the mitra fixture: a Mastodon-style Note with Lemmy's audience added
	"pixelfed":      true, // boosts are Announce{object id}, like Mastodon's
	// PeerTube channels are Groups but not forums (PeerTube#6142: "we don't
	// accept likes/notes"); PeerTube itself announces by IRI (the peertube
	// fixture activities/announce_video.json), and its Announce handler
	// fetches the object it names as a video, which an embedded Create
	// is not.
	"peertube": true,
}

// threadiverseSoftware are servers that follow groups as FEP-1b12 describes
// them: they take the group's Announce of the author's own activity, and
// relay edits, deletions and votes the same way (docs/protocol.md, the peer families).
var threadiverseSoftware = map[string]bool{
	"lemmy":     true,
	"mbin":      true,
	"kbin":      true,
	"piefed":    true,
	"discourse": true, // the discourse-activity-pub plugin
	"friendica": true, // docs/protocol.md, the peer families; its fixtures post into Lemmy communities
	"hubzilla":  true,
	"lotide":    true, // a Lemmy-like link aggregator (the lotide fixtures)
}

// OriginStrict is the dialect of receivers that trust an embedded object
// only when it comes from the sender's own origin, and otherwise keep its
// id and fetch it. A relayed Announce{Create} of a member's post fails
// there whenever the Create's id cannot be fetched (a fragment id, or the
// receiver's own activity), so they get the community's Announce{object
// id} for new posts (resolved from the post's origin) and, for a removal,
// Announce{Delete} by the community's own moderation actor, whose id is
// Agora's. Everything Agora itself originates (Update{Group}, the
// moderator's activities) goes to them as to threadiverse peers.
//
// What NodeBB accepts from a Group, read in NodeBB v4.11.3 (the version
// issue 21 was seen with; unchanged in v4.15.1):
//   - src/middleware/activitypub.js, assertPayload: "Origin checking": if
//     the object is embedded and new URL(object.id).hostname differs from
//     the actor's hostname, req.body.object = [object.id] ("Origin check
//     failed, stripping object down to id"). resolveObjects then fetches
//     every id (helpers.resolveObjects -> activitypub.get, no id check)
//     unless the activity's own type is Delete, and answers 424 when one
//     cannot be fetched ("Failed to resolve object(s)").
//   - src/activitypub/helpers.js, resolveLocalId/resolveActivity: an id on
//     NodeBB's own host with "#activity/create/..." is resolved locally
//     from a bare pid, which fails: a NodeBB topic relayed back to NodeBB
//     as Announce{Create} is a 424 (what issue 21 saw).
//   - src/activitypub/inbox.js, inbox.announce: Announce{Create{Note}} and
//     Announce{Note} are both handled ("case 'Create': object =
//     object.object; falls through" to acceptedPostTypes); a remote note is
//     asserted by id (notes.assert fetches it); an actor that is a known
//     (remote) category makes it a 1b12 announce into that category.
//     Announce{Update}, Announce{Delete} (deletes the post if its category
//     is the actor) and Announce{Like} are handled once resolved.
//   - so it takes: Announce of the object IRI (always, the object is
//     fetched from its origin); Announce{Create} only when the Create's id
//     is on the Group's own host or fetchable; `audience` (the category)
//     and `context` (the topic, FEP-7888) are read from the Note itself
//     (notes.assert, mocks.notes.public writes both).
//
// Mbin v1.10.1 and PieFed (theatl-social/pyfedi, app/activitypub/routes.py
// shared_inbox and process_inbox_request) are not origin-strict: both
// answer the inbox POST before processing (Mbin's SharedInboxController
// queues an ActivityMessage and returns 200; PieFed returns ” after
// queueing process_inbox_request), take Announce{activity} by unwrapping
// the embedded activity (Mbin ActivityHandler::handle, PieFed
// core_activity = request_json['object']), and Announce{IRI} by fetching
// it (Mbin AnnounceHandler getEntityObject, PieFed resolve_remote_post).
// They stay threadiverse.
const OriginStrict Dialect = "origin-strict"

// originStrictSoftware are NodeInfo software names of origin-strict
// receivers (see OriginStrict).
var originStrictSoftware = map[string]bool{
	"nodebb": true,
}

// FormByID is the Announce form stored for a host that refused an
// Announce{Create} of another origin: it gets OriginStrict from then on.
const FormByID = "by-id"

// AnnounceFormStore keeps, per host, the Announce form learnt from its
// answers (FormByID), across restarts. A host switches once.
type AnnounceFormStore interface {
	HostAnnounceForm(ctx context.Context, host string) (form string, at time.Time, err error)
	HostsAnnounceForms(ctx context.Context, hosts []string) (map[string]string, error)
	// SetHostAnnounceForm records the form unless the host has one; it
	// reports whether it did.
	SetHostAnnounceForm(ctx context.Context, host, form string, at time.Time) (bool, error)
}

// DialectOf tells which dialect a server speaks from its NodeInfo
// software.name, compared without case. Software not listed, and "" (no
// NodeInfo, or not asked yet), is UnknownPeer, which gets both dialects: a
// microblog peer ignores Announce{Create} and a threadiverse peer does not
// show Announce{object id} as a group post, so sending both is safe, where a
// wrong guess would lose the post. Bonfire is left unknown on purpose: its
// support for FEP-1b12 groups is still being investigated
// (bonfire-app#1390), while Mastodon-style boosts work there.
func DialectOf(software string) Dialect {
	s := strings.ToLower(strings.TrimSpace(software))
	switch {
	case microblogSoftware[s]:
		return Microblog
	case threadiverseSoftware[s]:
		return Threadiverse
	case originStrictSoftware[s]:
		return OriginStrict
	}
	return UnknownPeer
}

// withForm is the dialect of a host of software dialect d whose learnt
// Announce form is form.
func withForm(d Dialect, form string) Dialect {
	if form == FormByID {
		return OriginStrict
	}
	return d
}

// forms is the store's AnnounceFormStore, nil when it has none.
func (d *Dialects) forms() AnnounceFormStore {
	f, _ := d.store.(AnnounceFormStore)
	return f
}

// LearnOriginStrict records that host refused an embedded activity of
// another origin: from now on, and after a restart, it gets the
// OriginStrict dialect. It reports whether this switched the host (false
// when it had switched before, or the store keeps no forms).
func (d *Dialects) LearnOriginStrict(ctx context.Context, host string) (bool, error) {
	f := d.forms()
	if f == nil {
		return false, nil
	}
	return f.SetHostAnnounceForm(ctx, strings.ToLower(host), FormByID, d.now().UTC())
}

// NodeInfo fetching limits: the documents are small (Mastodon's is under
// 2 KiB), and a refresh runs off the delivery path, so a slow host only
// delays its own answer.
const (
	nodeInfoMaxBody = 256 << 10
	nodeInfoTimeout = 10 * time.Second
	nodeInfoMaxAge  = 24 * time.Hour
	nodeInfoSchema  = "http://nodeinfo.diaspora.software/ns/schema/"
)

// ErrNoNodeInfo is wrapped by Refresh's error when a host answered but has
// no usable NodeInfo (404, malformed JSON, no schema link, a link to another
// host, no software name). The host is then recorded as software "".
var ErrNoNodeInfo = errors.New("no usable NodeInfo")

// Dialects knows which dialect each peer host speaks, from the software
// its NodeInfo names (docs/protocol.md, the peer families), cached in a SoftwareStore
// for a day.
type Dialects struct {
	store  SoftwareStore
	client *http.Client
	now    func() time.Time

	mu       sync.Mutex
	inFlight map[string]bool // hosts being refreshed: one GET at a time per host
}

// NewDialects returns Dialects. client should come from NewHTTPClient, so
// that a NodeInfo link cannot reach private addresses; now may be nil for
// time.Now.
func NewDialects(store SoftwareStore, client *http.Client, now func() time.Time) *Dialects {
	if now == nil {
		now = time.Now
	}
	if client == nil {
		client = NewHTTPClient(ClientConfig{})
	}
	// A host answers for itself only: a redirect elsewhere is refused
	// before it is followed, as a link elsewhere is.
	c := *client
	next := client.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !SameHost(req.URL.String(), via[0].URL.String()) {
			return fmt.Errorf("%w: redirected to another host %s", ErrNoNodeInfo, req.URL.Host)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) > maxRedirects {
			return fmt.Errorf("%w: more than %d", ErrTooManyRedirects, maxRedirects)
		}
		return nil
	}
	return &Dialects{store: store, client: &c, now: now, inFlight: map[string]bool{}}
}

// HostsSoftwareStore answers for many hosts in one query; a SoftwareStore
// that has it spares a fan-out one query per member server.
type HostsSoftwareStore interface {
	HostsSoftware(ctx context.Context, hosts []string) (map[string]string, error)
}

// OfHosts is Of for many hosts at once (a fan-out's member servers); hosts
// the store does not know, or all of them if it fails, are UnknownPeer.
func (d *Dialects) OfHosts(ctx context.Context, hosts []string) map[string]Dialect {
	out := make(map[string]Dialect, len(hosts))
	if batch, ok := d.store.(HostsSoftwareStore); ok {
		lower := make([]string, len(hosts))
		for i, h := range hosts {
			lower[i] = strings.ToLower(h)
		}
		sw, err := batch.HostsSoftware(ctx, lower)
		var forms map[string]string
		if f := d.forms(); f != nil && err == nil {
			forms, _ = f.HostsAnnounceForms(ctx, lower) // none learnt, on error
		}
		for i, h := range hosts {
			if err == nil {
				out[h] = withForm(DialectOf(sw[lower[i]]), forms[lower[i]])
			} else {
				out[h] = UnknownPeer
			}
		}
		return out
	}
	for _, h := range hosts {
		out[h] = d.Of(ctx, h)
	}
	return out
}

// Of returns the dialect of host (a URL's host, with its port if it has
// one) from what the store knows. It never touches the network: a fan-out
// must not wait on a peer's NodeInfo. A host not known yet, or a store
// error, is UnknownPeer, which gets both dialects.
func (d *Dialects) Of(ctx context.Context, host string) Dialect {
	software, _, err := d.store.HostSoftware(ctx, strings.ToLower(host))
	if err != nil {
		return UnknownPeer
	}
	if f := d.forms(); f != nil {
		if form, _, err := f.HostAnnounceForm(ctx, strings.ToLower(host)); err == nil {
			return withForm(DialectOf(software), form)
		}
	}
	return DialectOf(software)
}

// Refresh learns the software of the host of baseURL (any URL on it, such
// as an actor IRI) unless the store has an answer younger than a day. It
// reads {scheme}://{host}/.well-known/nodeinfo, follows its NodeInfo 2.1 or
// 2.0 link (any NodeInfo schema link otherwise) on the same host, and
// stores software.name in lower case.
//
// A host with no usable NodeInfo is stored as "" so that it is not asked
// again for a day, and the error wraps ErrNoNodeInfo. When the host cannot
// be reached or fails (network error, 5xx, 429), what was known before is
// kept, with the new time, for the same reason. A cancelled ctx stores
// nothing.
func (d *Dialects) Refresh(ctx context.Context, baseURL string) error {
	if err := IsAllowedURL(baseURL); err != nil {
		return fmt.Errorf("refresh nodeinfo of %s: %w", baseURL, err)
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		return fmt.Errorf("refresh nodeinfo of %s: %w", baseURL, err)
	}
	host := strings.ToLower(u.Host)
	known, at, err := d.store.HostSoftware(ctx, host)
	if err != nil {
		return fmt.Errorf("refresh nodeinfo of %s: %w", host, err)
	}
	if !at.IsZero() && d.now().Sub(at) < nodeInfoMaxAge {
		return nil
	}
	if !d.begin(host) {
		return nil // another goroutine is asking right now
	}
	defer d.end(host)

	fctx, cancel := context.WithTimeout(ctx, nodeInfoTimeout)
	defer cancel()
	software, ferr := d.fetch(fctx, strings.ToLower(u.Scheme)+"://"+host)
	if ferr != nil && ctx.Err() != nil {
		return fmt.Errorf("refresh nodeinfo of %s: %w", host, ctx.Err())
	}
	if ferr != nil && !errors.Is(ferr, ErrNoNodeInfo) {
		software = known // unreachable today is not "no NodeInfo"
	}
	if err := d.store.SetHostSoftware(ctx, host, software, d.now().UTC()); err != nil {
		return fmt.Errorf("refresh nodeinfo of %s: %w", host, err)
	}
	if ferr != nil {
		return fmt.Errorf("refresh nodeinfo of %s: %w", host, ferr)
	}
	return nil
}

func (d *Dialects) begin(host string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inFlight[host] {
		return false
	}
	d.inFlight[host] = true
	return true
}

func (d *Dialects) end(host string) {
	d.mu.Lock()
	delete(d.inFlight, host)
	d.mu.Unlock()
}

// fetch reads the software name from the NodeInfo of origin
// (scheme://host). Its errors wrap ErrNoNodeInfo when the host answered
// without a usable document.
func (d *Dialects) fetch(ctx context.Context, origin string) (string, error) {
	wellKnown := origin + "/.well-known/nodeinfo"
	var index struct {
		Links []struct {
			Rel  string `json:"rel"`
			Href string `json:"href"`
		} `json:"links"`
	}
	if err := d.getJSON(ctx, wellKnown, &index); err != nil {
		return "", err
	}
	href, rank := "", 0
	for _, l := range index.Links {
		r := 0
		switch {
		case l.Rel == nodeInfoSchema+"2.1":
			r = 3
		case l.Rel == nodeInfoSchema+"2.0":
			r = 2
		case strings.HasPrefix(l.Rel, nodeInfoSchema):
			r = 1
		}
		if r > rank && l.Href != "" {
			href, rank = l.Href, r
		}
	}
	if href == "" {
		return "", fmt.Errorf("%s: %w: no NodeInfo schema link", wellKnown, ErrNoNodeInfo)
	}
	// The host speaks for itself only: a link elsewhere could name
	// someone else's software (or send Agora's GETs to a third party).
	if !SameHost(href, wellKnown) {
		return "", fmt.Errorf("%s: %w: link to another host %s", wellKnown, ErrNoNodeInfo, href)
	}
	var doc struct {
		Software struct {
			Name string `json:"name"`
		} `json:"software"`
	}
	if err := d.getJSON(ctx, href, &doc); err != nil {
		return "", err
	}
	name := strings.ToLower(strings.TrimSpace(doc.Software.Name))
	if name == "" {
		return "", fmt.Errorf("%s: %w: no software.name", href, ErrNoNodeInfo)
	}
	return name, nil
}

// getJSON GETs a small JSON document from the host of rawURL. A redirect
// to another host (refused by the client's CheckRedirect), a 4xx other than
// 429, an oversized or malformed body wrap ErrNoNodeInfo; network errors,
// 429 and 5xx do not.
func (d *Dialects) getJSON(ctx context.Context, rawURL string, v any) error {
	if err := IsAllowedURL(rawURL); err != nil {
		return fmt.Errorf("%w: %w", ErrNoNodeInfo, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fmt.Errorf("get %s: %w: %w", rawURL, ErrNoNodeInfo, err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", rawURL, err) // wraps ErrNoNodeInfo for a redirect elsewhere
	}
	defer resp.Body.Close()
	final := resp.Request.URL.String()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
		serr := &StatusError{Code: resp.StatusCode, URL: final}
		if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
			return fmt.Errorf("get %s: %w", rawURL, serr)
		}
		return fmt.Errorf("get %s: %w: %w", rawURL, ErrNoNodeInfo, serr)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, nodeInfoMaxBody+1))
	if err != nil {
		return fmt.Errorf("get %s: %w", rawURL, err)
	}
	if len(body) > nodeInfoMaxBody {
		return fmt.Errorf("get %s: %w: %w: over %d bytes", rawURL, ErrNoNodeInfo, ErrTooLarge, nodeInfoMaxBody)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("get %s: %w: %w", rawURL, ErrNoNodeInfo, err)
	}
	return nil
}

// Software returns the software of the server at baseURL (any URL on it):
// NodeInfo's software.name in lower case, learnt by Refresh (so from the
// store when known for less than a day), or "" when the server has no
// usable NodeInfo. The error is Refresh's when nothing is known.
func (d *Dialects) Software(ctx context.Context, baseURL string) (string, error) {
	rerr := d.Refresh(ctx, baseURL)
	u, err := url.Parse(baseURL)
	if err != nil {
		return "", fmt.Errorf("software of %s: %w", baseURL, err)
	}
	software, _, err := d.store.HostSoftware(ctx, strings.ToLower(u.Host))
	if err != nil {
		return "", fmt.Errorf("software of %s: %w", u.Host, err)
	}
	if software == "" && rerr != nil {
		return "", rerr
	}
	return software, nil
}
