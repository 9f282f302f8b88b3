package sms

import (
	"strings"

	"golang.org/x/text/unicode/norm"
)

// GSMSafe replaces typographic characters (curly quotes, dashes, ellipsis,
// Unicode spaces, bullets, fullwidth forms, ...) with their GSM-7
// equivalents and drops invisible zero-width characters, so that text typed
// in a word processor is not sent as UCS-2 for a single ’.
//
// Decomposed accents are composed first (e + U+0301 becomes é).
// GSMSafe changes the text only when the result is entirely GSM-7: a message
// that stays UCS-2 anyway (emoji, Cyrillic, CJK) is returned as typed,
// because replacing would save no segment and could add units (… → ...).
// The bool reports whether the text was changed. When nothing changes
// GSMSafe does not allocate, unless the text holds one of the decomposed
// accents it tries to compose.
func GSMSafe(text string) (string, bool) {
	res, stuck := scanGSMSafe(text)
	switch {
	case res == allGSM:
		return text, false
	case res == replaceable:
		return replaceGSMSafe(text), true
	case !composesToGSM(stuck):
		return text, false
	}
	// A decomposed accent (e + U+0301, as some exports write é) may
	// compose into a GSM-7 letter.
	nfc := norm.NFC.String(text)
	switch res, _ := scanGSMSafe(nfc); res {
	case allGSM:
		return nfc, true
	case replaceable:
		return replaceGSMSafe(nfc), true
	}
	return text, false
}

// composesToGSM reports whether r is a combining mark that composes with
// a letter into a GSM-7 one: grave (è), acute (é), tilde (ñ), diaeresis
// (ä), ring (å) or cedilla (Ç).
func composesToGSM(r rune) bool {
	switch r {
	case '\u0300', '\u0301', '\u0303', '\u0308', '\u030A', '\u0327':
		return true
	}
	return false
}

type safeScan int

const (
	allGSM      safeScan = iota // nothing to replace
	replaceable                 // GSM-7 once gsmSafe replacements are made
	stuckUCS2                   // holds a character gsmSafe cannot replace
)

// scanGSMSafe classifies text; for stuckUCS2 it also returns the first
// character that cannot be replaced.
func scanGSMSafe(text string) (safeScan, rune) {
	res := allGSM
	for _, r := range text {
		if septets(r) > 0 {
			continue
		}
		if _, ok := gsmSafe[r]; !ok {
			return stuckUCS2, r
		}
		res = replaceable
	}
	return res, 0
}

func replaceGSMSafe(text string) string {
	var b strings.Builder
	b.Grow(len(text))
	for _, r := range text {
		if s, ok := gsmSafe[r]; ok && septets(r) == 0 {
			b.WriteString(s)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// gsmSafe maps characters outside GSM-7 to GSM-7 text. It follows the
// common ground of Twilio's Smart Encoding and Sinch's Auto Encoding
// lists, minus characters whose removal changes meaning in the scripts
// that use them (ZWJ in emoji sequences, ZWNJ in Persian): those texts are
// UCS-2 anyway.
var gsmSafe = func() map[rune]string {
	m := map[rune]string{
		// Single quotes, apostrophes, primes and accents used as quotes.
		'‘': "'", '’': "'", '‚': "'", '‛': "'", '′': "'", '‵': "'",
		'ʹ': "'", 'ʻ': "'", 'ʼ': "'", 'ʽ': "'", 'ˈ': "'", 'ˊ': "'", 'ˋ': "'",
		'´': "'", '`': "'", '❛': "'", '❜': "'",
		// Double quotes.
		'“': `"`, '”': `"`, '„': `"`, '‟': `"`, '″': `"`, '‶': `"`,
		'«': `"`, '»': `"`, 'ʺ': `"`, 'ˮ': `"`, '❝': `"`, '❞': `"`,
		'〝': `"`, '〞': `"`, '〟': `"`,
		'‹': "<", '›': ">",
		// Hyphens, dashes and minus.
		'‐': "-", '‑': "-", '‒': "-", '–': "-", '—': "-", '―': "-",
		'−': "-", '⁃': "-", '﹣': "-",
		// Bullets.
		'•': "-", '‣': "-", '◦': "-", '∙': "-",
		// Ellipsis and doubled punctuation.
		'…': "...", '‼': "!!", '⁇': "??", '⁈': "?!", '⁉': "!?",
		// Fractions and operators.
		'½': "1/2", '¼': "1/4", '¾': "3/4", '÷': "/", '⁄': "/", '∕': "/",
		'×': "x", '∗': "*", '∼': "~", '˜': "~", 'ˆ': "^",
		// Ideographic punctuation.
		'、': ",", '。': ".",
		// Spaces: tab and every Unicode space become one space; the line
		// and paragraph separators are line breaks, so they become one.
		'\t': " ", '\u00A0': " ", '\u202F': " ", '\u205F': " ", '\u3000': " ",
		'\u2028': "\n", '\u2029': "\n",
		// Invisible characters: zero-width space, word joiner, BOM /
		// zero-width no-break space, soft hyphen.
		'\u200B': "", '\u2060': "", '\uFEFF': "", '\u00AD': "",
	}
	for r := rune(0x2000); r <= 0x200A; r++ {
		m[r] = " "
	}
	// Fullwidth ASCII (U+FF01..U+FF5E) maps onto U+0021..U+007E; its grave
	// accent is not GSM-7 and becomes an apostrophe like '`' itself.
	for r := rune(0xFF01); r <= 0xFF5E; r++ {
		m[r] = string(r - 0xFF01 + '!')
	}
	m['\uFF40'] = "'"
	return m
}()
