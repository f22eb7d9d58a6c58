package federation_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/agorafed/agora/federation"
)

// FuzzParseSignatureBothSchemes feeds ParseSignature a Signature-Input
// (RFC 9421) and a Signature header that may be either scheme, or a mix
// of both, as a confused or hostile peer might send. It must never panic,
// must fail only with ErrNotVerified (401), must accept a draft-cavage
// header only when it signs what docs/protocol.md, "What Agora accepts" requires, and
// nothing it accepts may verify with a key that did not sign it.
func FuzzParseSignatureBothSchemes(f *testing.F) {
	f.Add(`sig1=("@method" "@target-uri" "@authority" "content-type" "content-digest");created=1740830400;keyid="https://fedify.example/users/a#main-key";alg="rsa-v1_5-sha256"`,
		`sig1=:dGVzdA==:`)
	f.Add(`sig1=("@method" "@target-uri");created=1`, `keyId="k",headers="(request-target) host date digest",signature="AAAA"`)
	f.Add(`sig1=();created=1;keyid="k"`, `sig1=:AAAA:, sig2=:BBBB:`)
	f.Add(``, `sig1=:AAAA:`)
	f.Add(`sig1=("@method"`, `keyId="k",signature="AAAA"`)
	f.Add(`sig1=("@method" "@target-uri");keyid="`+strings.Repeat("k", 5000)+`"`, `sig1=:`+strings.Repeat("A", 5000)+`:`)
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, input, signature string) {
		r, err := http.NewRequest(http.MethodPost, testInbox, nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Host = "agora.example"
		r.Header.Set("Date", now.Format(http.TimeFormat))
		r.Header.Set("Digest", sha256Digest(testBody))
		r.Header["Signature-Input"] = []string{input}
		r.Header["Signature"] = []string{signature}
		sig, err := federation.ParseSignature(r, []byte(testBody), now)
		if err != nil {
			if !errors.Is(err, federation.ErrNotVerified) {
				t.Fatalf("error %v does not wrap ErrNotVerified", err)
			}
			return
		}
		if sig.KeyID == "" {
			t.Fatal("accepted without keyId")
		}
		if sig.Scheme != federation.SchemeRFC9421 {
			for _, h := range []string{"(request-target)", "host", "date", "digest"} {
				if !strings.Contains(" "+strings.Join(sig.Headers, " ")+" ", " "+h+" ") {
					t.Fatalf("accepted without %s signed: %q", h, signature)
				}
			}
		}
		if _, err := sig.Verify(context.Background(), &staticKeys{old: testKeys()[0]}); err == nil {
			t.Fatalf("fuzzed signature verified: %q %q", input, signature)
		}
	})
}
