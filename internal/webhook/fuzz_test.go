package webhook_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/webhook"
)

// FuzzVerify: Verify never panics, and accepts exactly when the secret is
// set, the headers are complete, the algorithm is HmacSHA256, the timestamp is within tolerance
// and the signature is the independent signer's. The seed corpus is in
// testdata/fuzz/FuzzVerify.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(`{"message_delivery_report":{"status":"DELIVERED"}}`), "nonce-1", "", int64(0), "HmacSHA256", true, "s3cret")
	f.Add([]byte(``), "", "", int64(0), "HmacSHA256", true, "s3cret")
	f.Add([]byte(`{}`), "n", "AAAA", int64(301), "HmacSHA256", false, "k")
	f.Add([]byte("\xff\x00."), "n.n", "", int64(-300), "hmacsha256", true, "")
	const tolerance = 5 * time.Minute
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, body []byte, nonce, sig string, skew int64, alg string, useRealSig bool, key string) {
		ts := strconv.FormatInt(now.Unix()+skew, 10)
		if useRealSig {
			sig = sign(key, body, nonce, ts)
		}
		h := http.Header{}
		h.Set("X-Sinch-Webhook-Signature", sig)
		h.Set("X-Sinch-Webhook-Signature-Timestamp", ts)
		h.Set("X-Sinch-Webhook-Signature-Nonce", nonce)
		h.Set("X-Sinch-Webhook-Signature-Algorithm", alg)
		got, err := webhook.Verify(key, h, body, now, tolerance)

		// Header values as they travel (Header.Set keeps them verbatim). An
		// empty secret verifies nothing: it is a setting left unset.
		want := key != "" && sig != "" && nonce != "" && alg == "HmacSHA256" && len(nonce) <= 256 &&
			skew >= -300 && skew <= 300 && sig == sign(key, body, nonce, ts)
		if (err == nil) != want {
			t.Fatalf("Verify accepted=%v (%v), want accepted=%v", err == nil, err, want)
		}
		if err == nil && got != nonce {
			t.Fatalf("got nonce %q, want %q", got, nonce)
		}
	})
}
