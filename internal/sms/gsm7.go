package sms

// septets returns how many GSM-7 septets r takes in the default alphabet of
// 3GPP TS 23.038 §6.2.1: 1 for the basic table, 2 for the extension table
// (escape 0x1B then the character), 0 when r is not in GSM-7 at all.
func septets(r rune) int {
	if r < 0x80 {
		return int(asciiSeptets[r])
	}
	switch r {
	// Latin-1 letters and signs of the basic table.
	case '£', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', 'Ø', 'ø', 'Å', 'å',
		'Æ', 'æ', 'ß', 'É', '¤', '¡', 'Ä', 'Ö', 'Ñ', 'Ü', '§',
		'¿', 'ä', 'ö', 'ñ', 'ü', 'à':
		return 1
	// The Greek capitals that have no Latin look-alike in the basic table.
	case 'Δ', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ':
		return 1
	case '€':
		return 2
	}
	return 0
}

// asciiSeptets holds septets for U+0000..U+007F. ASCII is not a subset of
// GSM-7: most controls are absent, '`' is absent, and [ \ ] ^ { | } ~ plus
// form feed live in the extension table.
var asciiSeptets = func() (t [0x80]uint8) {
	for r := ' '; r <= '~'; r++ {
		t[r] = 1
	}
	t['\n'], t['\r'] = 1, 1
	t['`'] = 0
	for _, r := range "\f^{}\\[~]|" {
		t[r] = 2
	}
	return t
}()
