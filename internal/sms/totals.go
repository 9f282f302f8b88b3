package sms

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// topUCS2Chars is how many forcing characters the summary lists.
const topUCS2Chars = 10

// Totals aggregates Counts for an enqueue summary. The zero value is ready
// to use. It is not safe for concurrent use: give each worker its own and
// Merge them.
type Totals struct {
	Messages    int
	GSM7        int
	UCS2        int
	Segments    int
	MaxSegments int
	// forcing counts, per character, the messages it forced to UCS-2.
	forcing map[rune]int
}

// Add records one measured message.
func (t *Totals) Add(c Count) {
	t.Messages++
	if c.Encoding == UCS2 {
		t.UCS2++
	} else {
		t.GSM7++
	}
	t.Segments += c.Segments
	t.MaxSegments = max(t.MaxSegments, c.Segments)
	if len(c.UCS2Chars) > 0 && t.forcing == nil {
		t.forcing = make(map[rune]int)
	}
	for _, r := range c.UCS2Chars {
		t.forcing[r]++
	}
}

// Merge adds o's totals into t.
func (t *Totals) Merge(o Totals) {
	t.Messages += o.Messages
	t.GSM7 += o.GSM7
	t.UCS2 += o.UCS2
	t.Segments += o.Segments
	t.MaxSegments = max(t.MaxSegments, o.MaxSegments)
	if len(o.forcing) > 0 && t.forcing == nil {
		t.forcing = make(map[rune]int, len(o.forcing))
	}
	for r, n := range o.forcing {
		t.forcing[r] += n
	}
}

// CharCount is a character that forced UCS-2 and the number of messages
// it did so in.
type CharCount struct {
	Char     rune
	Messages int
}

// TopUCS2Chars returns up to 10 characters that forced UCS-2, in the most
// messages first; ties go to the lower code point so output is stable.
func (t Totals) TopUCS2Chars() []CharCount {
	out := make([]CharCount, 0, len(t.forcing))
	for r, n := range t.forcing {
		out = append(out, CharCount{r, n})
	}
	slices.SortFunc(out, func(a, b CharCount) int {
		return cmp.Or(cmp.Compare(b.Messages, a.Messages), cmp.Compare(a.Char, b.Char))
	})
	return out[:min(len(out), topUCS2Chars)]
}

type totalsJSON struct {
	Messages    int      `json:"messages"`
	GSM7        int      `json:"gsm7"`
	UCS2        int      `json:"ucs2"`
	Segments    int      `json:"segments"`
	MaxSegments int      `json:"max_segments"`
	UCS2Chars   []string `json:"ucs2_chars"`
}

// MarshalJSON writes {"messages", "gsm7", "ucs2", "segments",
// "max_segments", "ucs2_chars"}; ucs2_chars is the TopUCS2Chars list as
// one-character strings, [] when none.
func (t Totals) MarshalJSON() ([]byte, error) {
	j := totalsJSON{t.Messages, t.GSM7, t.UCS2, t.Segments, t.MaxSegments, []string{}}
	for _, c := range t.TopUCS2Chars() {
		j.UCS2Chars = append(j.UCS2Chars, string(c.Char))
	}
	return json.Marshal(j)
}

// String is a one-line summary for a terminal, e.g.
//
//	3 messages: 1 GSM-7, 2 UCS-2; 5 segments (max 3); UCS-2 forced by ’ U+2019 (2), U+00A0 (1)
func (t Totals) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d messages: %d GSM-7, %d UCS-2; %d segments (max %d)",
		t.Messages, t.GSM7, t.UCS2, t.Segments, t.MaxSegments)
	for i, c := range t.TopUCS2Chars() {
		sep := ", "
		if i == 0 {
			sep = "; UCS-2 forced by "
		}
		fmt.Fprintf(&b, "%s%s (%d)", sep, showRune(c.Char), c.Messages)
	}
	return b.String()
}

// showRune names a character for a terminal: the glyph when it is visible,
// and always the code point, since ’ and ' or U+00A0 and a space look alike.
func showRune(r rune) string {
	if unicode.IsGraphic(r) && !unicode.IsSpace(r) {
		return fmt.Sprintf("%c U+%04X", r, r)
	}
	return fmt.Sprintf("U+%04X", r)
}

// UnmarshalJSON reads what MarshalJSON writes, so a summary survives a
// round trip (the demo and API clients decode it). Per-character counts are
// not in the JSON: the characters keep their order, with made-up counts.
func (t *Totals) UnmarshalJSON(b []byte) error {
	var j totalsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*t = Totals{Messages: j.Messages, GSM7: j.GSM7, UCS2: j.UCS2, Segments: j.Segments, MaxSegments: j.MaxSegments}
	for i, s := range j.UCS2Chars {
		r := []rune(s)
		if len(r) != 1 {
			return fmt.Errorf("sms: ucs2_chars: %q is not one character", s)
		}
		if t.forcing == nil {
			t.forcing = make(map[rune]int)
		}
		t.forcing[r[0]] = len(j.UCS2Chars) - i
	}
	return nil
}
