package federation_test

import (
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	"github.com/agorafed/agora/federation"
)

// FuzzSanitizeHTML feeds SanitizeHTML hostile HTML and checks, on a parse
// of its output as a browser would read it, that no script, event handler
// or non-web URL survives, and that only the allowed elements and
// attributes do. "javascript:" may remain as text; it is harmless there.
func FuzzSanitizeHTML(f *testing.F) {
	for _, s := range []string{
		`<p>Hello <script>alert(1)</script>world</p>`,
		`<img src=x onerror=alert(1)>`,
		`<a href="javascript:alert(1)">x</a>`,
		`<a href="&#106;avascript:alert(1)">x</a>`,
		`<a href="data:text/html,<script>alert(1)</script>">x</a>`,
		`<iframe src="https://evil.example"></iframe>`,
		`<svg onload=alert(1)><circle/></svg>`,
		`<p style="color:red" onclick="x()">styled</p>`,
		`<p><b><i>nested</b></i> <div>un<p>closed`,
		`<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>`,
		`<noscript><p title="</noscript><img src=x onerror=alert(1)>">`,
		`<textarea><script>alert(1)</script></textarea>`,
		`<p><span class="h-card"><a href="https://mamot.fr/@r" class="u-url mention">@<span>r</span></a></span></p>`,
		`<a href="https://x.example" class="mention evil" rel="me" target="_top" onmouseover="x">a</a>`,
		`<h1>T</h1><ol start="2"><li value="3">x</li></ol><pre><code>c</code></pre><hr>`,
		`<a href="mailto:a@b.example">m</a><a href="vbscript:x">v</a><a href=" javascript:x">j</a>`,
		`<xmp><script>alert(1)</script></xmp><plaintext><a href=javascript:x>`,
		"<a href=\"java\x00script:alert(1)\">x</a>",
		`<A href=mAilto:jAvAsCript:>`, // found by the fuzzer: a mailto whose address reads as a scheme
	} {
		f.Add(s)
	}
	allowed := map[string]map[string]bool{
		"p": nil, "br": nil, "del": nil, "s": nil, "pre": nil, "code": nil,
		"em": nil, "strong": nil, "b": nil, "i": nil, "u": nil, "ul": nil,
		"blockquote": nil, "h1": nil, "h2": nil, "h3": nil, "h4": nil,
		"h5": nil, "h6": nil, "sub": nil, "sup": nil, "hr": nil,
		"a":    {"href": true, "rel": true, "class": true},
		"span": {"class": true},
		"ol":   {"start": true},
		"li":   {"value": true},
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := federation.SanitizeHTML(in)
		_ = federation.PlainText(in)
		if strings.Contains(strings.ToLower(out), "<script") {
			t.Fatalf("<script in output\n in: %q\nout: %q", in, out)
		}
		nodes, err := html.ParseFragment(strings.NewReader(out), &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div})
		if err != nil {
			t.Fatalf("output does not parse: %v", err)
		}
		var walk func(n *html.Node)
		walk = func(n *html.Node) {
			if n.Type == html.ElementNode {
				attrs, ok := allowed[n.Data]
				if !ok {
					t.Fatalf("element <%s> in output\n in: %q\nout: %q", n.Data, in, out)
				}
				for _, a := range n.Attr {
					if strings.HasPrefix(strings.ToLower(a.Key), "on") || !attrs[a.Key] {
						t.Fatalf("attribute %s on <%s> in output\n in: %q\nout: %q", a.Key, n.Data, in, out)
					}
					if a.Key == "href" {
						checkHref(t, in, out, a.Val)
					} else if strings.Contains(strings.ToLower(a.Val), "javascript:") {
						t.Fatalf("javascript: in attribute %s\n in: %q\nout: %q", a.Key, in, out)
					}
				}
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
		for _, n := range nodes {
			walk(n)
		}
	})
}

// checkHref reads an href as a browser does (surrounding spaces and
// controls trimmed, tabs and newlines removed) and wants http, https, or
// mailto with a plain address.
func checkHref(t *testing.T, in, out, href string) {
	t.Helper()
	v := strings.TrimFunc(href, func(r rune) bool { return r <= ' ' })
	v = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(v)
	u, err := url.Parse(v)
	if err != nil {
		t.Fatalf("href %q does not parse: %v\n in: %q\nout: %q", href, err, in, out)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	case "mailto":
		if strings.ContainsAny(u.Opaque, ":/") {
			t.Fatalf("mailto href %q\n in: %q\nout: %q", href, in, out)
		}
	default:
		t.Fatalf("href %q in output\n in: %q\nout: %q", href, in, out)
	}
}
