package webhook

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sinch-dispatch/sinch-dispatch/internal/metrics"
	"github.com/sinch-dispatch/sinch-dispatch/internal/sinch"
)

// maxNonceLen bounds the nonce header: it becomes part of a Redis key.
const maxNonceLen = 256

// VerifyError says why a callback's signature headers were refused. Reason
// is one of the metrics.Reject* values; the message never quotes the
// secret or the expected signature.
type VerifyError struct {
	Reason string
	Detail string
}

func (e *VerifyError) Error() string { return "webhook signature: " + e.Detail }

func verifyErr(reason, format string, args ...any) *VerifyError {
	return &VerifyError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// Verify checks a callback as Sinch signs it: the algorithm header is
// HmacSHA256, the timestamp (Unix seconds) is within tolerance of now in
// either direction, and the signature header is
// base64(HMAC-SHA256(secret, body + "." + nonce + "." + timestamp)) over the
// exact body bytes, compared in constant time. It returns the nonce, which
// the caller must refuse to see twice (Handler does, in Redis). It never
// panics, whatever the input.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) (nonce string, err error) {
	return VerifyAny([]string{secret}, h, body, now, tolerance)
}

// VerifyAny is Verify with several secrets, any of which may have signed
// the callback: Sinch signs receipts sent to the app's webhook with its
// webhook secret, and those sent to a message's own callback_url with the
// app's secret_for_overridden_callback_urls. Empty secrets are skipped.
func VerifyAny(secrets []string, h http.Header, body []byte, now time.Time, tolerance time.Duration) (nonce string, err error) {
	sig := h.Get(sinch.HeaderWebhookSignature)
	ts := h.Get(sinch.HeaderWebhookSignatureTimestamp)
	nonce = h.Get(sinch.HeaderWebhookSignatureNonce)
	alg := h.Get(sinch.HeaderWebhookSignatureAlgorithm)
	switch {
	case sig == "" || ts == "" || nonce == "" || alg == "":
		return "", verifyErr(metrics.RejectHeaders, "missing x-sinch-webhook-signature, -timestamp, -nonce or -algorithm header")
	case len(nonce) > maxNonceLen:
		return "", verifyErr(metrics.RejectHeaders, "nonce longer than %d bytes", maxNonceLen)
	case alg != sinch.WebhookSignatureAlgorithm:
		return "", verifyErr(metrics.RejectAlgorithm, "algorithm must be %s", sinch.WebhookSignatureAlgorithm)
	}
	sec, perr := strconv.ParseInt(ts, 10, 64)
	if perr != nil {
		return "", verifyErr(metrics.RejectHeaders, "timestamp is not Unix seconds")
	}
	// Compare in seconds against bounds that cannot overflow (a time.Time
	// or a difference could, for a hostile timestamp).
	tol := int64(tolerance / time.Second)
	if sec < now.Unix()-tol || sec > now.Unix()+tol {
		return "", verifyErr(metrics.RejectStale, "timestamp outside the %s tolerance (clock skew, or a replay)", tolerance)
	}
	for _, secret := range secrets {
		if secret != "" && sinch.ValidWebhookSignature(secret, body, nonce, ts, sig) {
			return nonce, nil
		}
	}
	return "", verifyErr(metrics.RejectSignature,
		"signature does not match (wrong SINCH_WEBHOOK_SECRET or SINCH_WEBHOOK_OVERRIDE_SECRET, or the body was altered)")
}
