package sms

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// gsmBasic is the GSM 7-bit default alphabet of 3GPP TS 23.038 §6.2.1,
// transcribed from the published table column by column (code 0x00..0x7F;
// 0x1B is the escape to the extension table and appears as ␛ here only to
// keep the column aligned).
var gsmBasic = [8]string{
	"@£$¥èéùìòÇ\nØø\rÅå", // 0x00-0x0F
	"Δ_ΦΓΛΩΠΨΣΘΞ␛ÆæßÉ",   // 0x10-0x1F
	" !\"#¤%&'()*+,-./",  // 0x20-0x2F
	"0123456789:;<=>?",   // 0x30-0x3F
	"¡ABCDEFGHIJKLMNO",   // 0x40-0x4F
	"PQRSTUVWXYZÄÖÑÜ§",   // 0x50-0x5F
	"¿abcdefghijklmno",   // 0x60-0x6F
	"pqrstuvwxyzäöñüà",   // 0x70-0x7F
}

// gsmExtension is the extension table of TS 23.038 §6.2.1.1: each is sent
// as escape 0x1B followed by the code shown.
var gsmExtension = map[rune]byte{
	'\f': 0x0A, '^': 0x14, '{': 0x28, '}': 0x29, '\\': 0x2F,
	'[': 0x3C, '~': 0x3D, ']': 0x3E, '|': 0x40, '€': 0x65,
}

func gsmBasicRunes(t *testing.T) []rune {
	t.Helper()
	var out []rune
	for i, row := range gsmBasic {
		rs := []rune(row)
		if len(rs) != 16 {
			t.Fatalf("gsmBasic row %d has %d characters, want 16", i, len(rs))
		}
		for _, r := range rs {
			if r != '␛' {
				out = append(out, r)
			}
		}
	}
	return out
}

func TestGSMTables(t *testing.T) {
	basic := gsmBasicRunes(t)
	if len(basic) != 127 {
		t.Fatalf("basic table has %d characters, want 127", len(basic))
	}
	for _, r := range basic {
		if got := Measure(string(r)); got.Encoding != GSM7 || got.Units != 1 {
			t.Errorf("%U %q: got %s %d septets, want GSM-7 1 septet", r, r, got.Encoding, got.Units)
		}
	}
	for r := range gsmExtension {
		if got := Measure(string(r)); got.Encoding != GSM7 || got.Units != 2 {
			t.Errorf("%U %q: got %s %d septets, want GSM-7 2 septets", r, r, got.Encoding, got.Units)
		}
	}
	// Every other code point up to U+2FFF (Latin, Greek, Cyrillic,
	// punctuation, symbols) must force UCS-2.
	for r := rune(0); r < 0x3000; r++ {
		if slices.Contains(basic, r) || gsmExtension[r] != 0 || !utf8.ValidRune(r) {
			continue
		}
		if got := Measure(string(r)); got.Encoding != UCS2 || !slices.Equal(got.UCS2Chars, []rune{r}) {
			t.Errorf("%U: got %s forced by %q, want UCS-2 forced by itself", r, got.Encoding, got.UCS2Chars)
		}
	}
}

func TestMeasure(t *testing.T) {
	a := strings.Repeat
	tests := []struct {
		name     string
		text     string
		enc      Encoding
		segments int
		units    int
		forced   []rune
	}{
		{"empty is one SMS", "", GSM7, 1, 0, nil},
		{"hello", "Hello", GSM7, 1, 5, nil},
		{"160 septets", a("a", 160), GSM7, 1, 160, nil},
		{"161 septets", a("a", 161), GSM7, 2, 161, nil},
		{"306 septets", a("a", 306), GSM7, 2, 306, nil},
		{"307 septets", a("a", 307), GSM7, 3, 307, nil},
		{"459 septets", a("a", 459), GSM7, 3, 459, nil},
		{"460 septets", a("a", 460), GSM7, 4, 460, nil},
		{"80 extension chars are 160 septets", a("€", 80), GSM7, 1, 160, nil},
		{"159 septets then € is 161", a("a", 159) + "€", GSM7, 2, 161, nil},
		{"152 then € moves whole to segment 2", a("a", 152) + "€" + a("a", 10), GSM7, 2, 164, nil},
		{"152 then € pushes 306 into 3", a("a", 152) + "€" + a("a", 152), GSM7, 3, 306, nil},
		{"151 then € fills segment 1 exactly", a("a", 151) + "€" + a("a", 153), GSM7, 2, 306, nil},
		{"newline and carriage return are GSM", "a\r\nb\nc", GSM7, 1, 6, nil},
		{"form feed is an extension char", "a\fb", GSM7, 1, 4, nil},
		{"no-break space forces UCS-2", "a\u00a0b", UCS2, 1, 3, []rune{0xA0}},
		{"é is GSM", "café", GSM7, 1, 4, nil},
		{"á is not", "está", UCS2, 1, 4, []rune{'á'}},
		{"70 units", a("ж", 70), UCS2, 1, 70, []rune{'ж'}},
		{"71 units", a("ж", 71), UCS2, 2, 71, []rune{'ж'}},
		{"134 units", a("ж", 134), UCS2, 2, 134, []rune{'ж'}},
		{"135 units", a("ж", 135), UCS2, 3, 135, []rune{'ж'}},
		{"201 units", a("ж", 201), UCS2, 3, 201, []rune{'ж'}},
		{"202 units", a("ж", 202), UCS2, 4, 202, []rune{'ж'}},
		{"35 emoji are 70 units", a("😀", 35), UCS2, 1, 70, []rune{'😀'}},
		{"66 units then emoji moves whole", a("ж", 66) + "😀" + a("ж", 10), UCS2, 2, 78, []rune{'ж', '😀'}},
		{"66 then emoji pushes 134 into 3", a("ж", 66) + "😀" + a("ж", 66), UCS2, 3, 134, []rune{'ж', '😀'}},
		{"GSM prefix then UCS-2 at 101", a("a", 100) + "ж", UCS2, 2, 101, []rune{'ж'}},
		{"GSM prefix then UCS-2 at 135", a("a", 134) + "ж", UCS2, 3, 135, []rune{'ж'}},
		{"67 GSM then emoji fits one SMS", a("a", 67) + "😀" + "a", UCS2, 1, 70, []rune{'😀'}},
		{"67 GSM then emoji opens segment 2", a("a", 67) + "😀" + "aa", UCS2, 2, 71, []rune{'😀'}},
		{"66 GSM then emoji moves whole", a("a", 66) + "😀" + a("a", 65), UCS2, 2, 133, []rune{'😀'}},
		{"66 GSM then emoji pushes 134 into 3", a("a", 66) + "😀" + a("a", 66), UCS2, 3, 134, []rune{'😀'}},
		{"GSM chars cost one unit in UCS-2", "€[" + "ж", UCS2, 1, 3, []rune{'ж'}},
		{"forcing chars listed once, first seen first", "’a’😀’", UCS2, 1, 6, []rune{'’', '😀'}},
		{"invalid UTF-8 counts as U+FFFD", "a\xffb", UCS2, 1, 3, []rune{utf8.RuneError}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Measure(tt.text)
			want := Count{Encoding: tt.enc, Segments: tt.segments, Units: tt.units, Chars: utf8.RuneCountInString(tt.text), UCS2Chars: tt.forced}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestMeasureGSMDoesNotAllocate(t *testing.T) {
	text := strings.Repeat("Hi {name}, your code is 1234. Reply STOP to opt out.\n", 4)
	if n := testing.AllocsPerRun(100, func() { Measure(text) }); n != 0 {
		t.Errorf("got %v allocations per Measure, want 0", n)
	}
}

var sink Count

func BenchmarkMeasure(b *testing.B) {
	for _, bc := range []struct{ name, text string }{
		{"GSM-7 140 chars", strings.Repeat("Hello Anna, your order 12345 ships today. ", 4)[:140]},
		{"GSM-7 3 segments", strings.Repeat("Hello Anna, your order 12345 ships today. ", 11)},
		{"UCS-2 one curly quote", "Hello Anna, your order ships today. We’re here 24/7 if you need us."},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sink = Measure(bc.text)
			}
		})
	}
}
