package sms

import "slices"

// Encoding is the data coding a message is sent in.
type Encoding string

const (
	// GSM7 is the GSM 7-bit default alphabet with its extension table.
	GSM7 Encoding = "GSM-7"
	// UCS2 is 16-bit coding; phones and Sinch send it as UTF-16, so a
	// character outside the Basic Multilingual Plane takes two units.
	UCS2 Encoding = "UCS-2"
)

// Capacities in units (septets for GSM-7, UTF-16 code units for UCS-2).
// A concatenated segment loses 6 octets to the user data header
// (TS 23.040 §9.2.3.24.1): 140-6 octets hold 153 septets or 67 units.
const (
	gsm7Single  = 160
	gsm7Segment = 153
	ucs2Single  = 70
	ucs2Segment = 67
)

// Count is the measure of one message text.
type Count struct {
	Encoding Encoding
	// Segments is the number of SMS parts the network carries and bills.
	// Empty text counts as 1: an empty SMS is still one SMS-SUBMIT PDU
	// with a zero-length body, and carriers (and Sinch) bill it as one.
	Segments int
	// Units is the length in the chosen encoding: septets for GSM-7 (an
	// extension character counts 2), UTF-16 code units for UCS-2 (a
	// character outside the BMP, such as most emoji, counts 2).
	Units int
	// Chars is the number of Unicode code points (runes).
	Chars int
	// UCS2Chars lists, in first-seen order and without repeats, the
	// characters that are not in GSM-7 and so forced UCS-2. It is nil for
	// GSM-7 text.
	UCS2Chars []rune
}

// Measure returns the encoding, length and segment count of text.
//
// Segmenting follows what a sending SMSC does: an extension character's
// escape pair and a UTF-16 surrogate pair are never split, so a segment
// that has room for only one more unit is closed early and the pair moves
// whole to the next one. Invalid UTF-8 bytes count as U+FFFD (UCS-2).
//
// Measure does not allocate for all-GSM-7 text.
func Measure(text string) Count {
	chars, septs, ext := 0, 0, false
	for i, r := range text {
		var n int
		if r < 0x80 { // inline the common case; septets does not inline
			n = int(asciiSeptets[r])
		} else {
			n = septets(r)
		}
		if n == 0 {
			return measureUCS2(text[i:], chars)
		}
		chars++
		septs += n
		ext = ext || n == 2
	}
	c := Count{Encoding: GSM7, Segments: 1, Units: septs, Chars: chars}
	switch {
	case septs <= gsm7Single:
	case !ext:
		c.Segments = (septs + gsm7Segment - 1) / gsm7Segment
	default:
		c.Segments = gsm7Segments(text)
	}
	return c
}

// gsm7Segments counts the concatenated segments of GSM-7 text that holds
// extension characters, whose escape pairs must not be split.
func gsm7Segments(text string) int {
	segs, fill := 1, 0
	for _, r := range text {
		n := septets(r)
		if fill+n > gsm7Segment {
			segs++
			fill = 0
		}
		fill += n
	}
	return segs
}

// measureUCS2 finishes Measure from the first character outside GSM-7,
// rest being the text from there and before the number of (GSM-7, so
// single-unit) characters ahead of it.
func measureUCS2(rest string, before int) Count {
	units, chars := before, before
	segs := max(1, (before+ucs2Segment-1)/ucs2Segment)
	fill := before - (segs-1)*ucs2Segment
	var forced []rune
	for _, r := range rest {
		chars++
		if septets(r) == 0 && !slices.Contains(forced, r) {
			forced = append(forced, r)
		}
		n := 1
		if r > 0xFFFF {
			n = 2
		}
		units += n
		if fill+n > ucs2Segment {
			segs++
			fill = 0
		}
		fill += n
	}
	if units <= ucs2Single {
		segs = 1
	}
	return Count{Encoding: UCS2, Segments: segs, Units: units, Chars: chars, UCS2Chars: forced}
}
