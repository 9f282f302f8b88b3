package sms

import (
	"strings"
	"testing"
)

func TestGSMSafe(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		changed bool
	}{
		{"plain GSM unchanged", "Hello {name}, 50% off €5!", "Hello {name}, 50% off €5!", false},
		{"empty", "", "", false},
		{"single quotes", "‘a’ ‚b‛", "'a' 'b'", true},
		{"double quotes", "“a” „b“ «c»", `"a" "b" "c"`, true},
		{"dashes", "a–b—c‐d−e", "a-b-c-d-e", true},
		{"ellipsis", "wait…", "wait...", true},
		{"no-break space", "10\u00a0€", "10 €", true},
		{"unicode spaces", "a\u2000b\u2001c\u2002d\u2003e\u2004f\u2005g\u2006h\u2007i\u2008j\u2009k\u200al\u202fm\u205fn", "a b c d e f g h i j k l m n", true},
		{"zero-width removed", "\ufeffa\u200bb\u2060c", "abc", true},
		{"soft hyphen removed", "co\u00adop", "coop", true},
		{"bullet", "• one\n• two", "- one\n- two", true},
		{"grave accent", "it`s", "it's", true},
		{"tab", "a\tb", "a b", true},
		{"line separator", "a\u2028b", "a\nb", true},
		{"fullwidth", "ＡＢＣ１２３！＠｀", "ABC123!@'", true},
		{"fractions", "½ price", "1/2 price", true},
		{"stays UCS-2 for emoji: left as typed", "We’re live 😀", "We’re live 😀", false},
		{"stays UCS-2 for Cyrillic: left as typed", "Привет — мир", "Привет — мир", false},
		{"stays UCS-2 for á: left as typed", "Está “aquí”", "Está “aquí”", false},
		{"decomposed accent composes into GSM-7", "Cafe\u0301 n\u0303", "Café ñ", true},
		{"decomposed accent and a curly quote", "Cafe\u0301’s", "Café's", true},
		{"decomposed á composes but stays UCS-2: left as typed", "esta\u0301", "esta\u0301", false},
		{"GSM accents kept", "café – à", "café - à", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := GSMSafe(tt.in)
			if got != tt.want || changed != tt.changed {
				t.Errorf("GSMSafe(%q) = %q, %v; want %q, %v", tt.in, got, changed, tt.want, tt.changed)
			}
		})
	}
}

// Every replacement must turn a non-GSM character into GSM-7 text, or the
// table could make a message worse.
func TestGSMSafeTable(t *testing.T) {
	for r, s := range gsmSafe {
		if septets(r) != 0 {
			t.Errorf("%U %q is GSM-7 already, want only non-GSM keys", r, r)
		}
		if c := Measure(s); c.Encoding != GSM7 {
			t.Errorf("%U → %q: got %s, want GSM-7", r, s, c.Encoding)
		}
		out, changed := GSMSafe("x" + string(r) + "x")
		if want := "x" + s + "x"; out != want || !changed {
			t.Errorf("GSMSafe(%U) = %q, %v; want %q, true", r, out, changed, want)
		}
	}
}

func TestGSMSafeNoChangeDoesNotAllocate(t *testing.T) {
	for _, text := range []string{strings.Repeat("Hi {name}, code 1234.\n", 8), "Привет — мир 😀", "สวัสดีครับ"} {
		if n := testing.AllocsPerRun(100, func() { GSMSafe(text) }); n != 0 {
			t.Errorf("GSMSafe(%q): got %v allocations, want 0", text, n)
		}
	}
}

var sinkString string

func BenchmarkGSMSafe(b *testing.B) {
	for _, bc := range []struct{ name, text string }{
		{"unchanged", strings.Repeat("Hello Anna, your order 12345 ships today. ", 4)[:140]},
		{"curly quote", "Hello Anna, your order ships today. We’re here 24/7 if you need us."},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkString, _ = GSMSafe(bc.text)
			}
		})
	}
}
