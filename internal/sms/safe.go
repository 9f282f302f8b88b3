package sms

import "strings"

// GSMSafe replaces typographic characters (curly quotes, dashes, ellipsis,
// Unicode spaces, bullets, fullwidth forms, ...) with their GSM-7
// equivalents and drops invisible zero-width characters, so that text typed
// in a word processor is not sent as UCS-2 for a single ’.
//
// It changes the text only when the result is entirely GSM-7: a message
// that stays UCS-2 anyway (emoji, Cyrillic, CJK) is returned as typed,
// because replacing would save no segment and could add units (… → ...).
// The bool reports whether the text was changed. When nothing changes
// GSMSafe does not allocate.
func GSMSafe(text string) (string, bool) {
	replace := false
	for _, r := range text {
		if septets(r) > 0 {
			continue
		}
		if _, ok := gsmSafe[r]; !ok {
			return text, false
		}
		replace = true
	}
	if !replace {
		return text, false
	}
	var b strings.Builder
	b.Grow(len(text))
	for _, r := range text {
		if s, ok := gsmSafe[r]; ok && septets(r) == 0 {
			b.WriteString(s)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String(), true
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
