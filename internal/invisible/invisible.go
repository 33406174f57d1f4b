// Package invisible tells the code points that render as nothing, which
// names shown to people refuse (server IDs, tags, Redis key prefixes):
// one set for the root package and the stores.
package invisible

import "unicode"

// ranges are the code points that render as nothing but are not
// format characters (Unicode Cf): the rest of Unicode's
// Default_Ignorable_Code_Point set — the combining grapheme joiner, Hangul
// fillers, Khmer inherent vowels, Mongolian free variation selectors and
// variation selectors.
var ranges = &unicode.RangeTable{
	R16: []unicode.Range16{
		{Lo: 0x034f, Hi: 0x034f, Stride: 1},
		{Lo: 0x115f, Hi: 0x1160, Stride: 1},
		{Lo: 0x17b4, Hi: 0x17b5, Stride: 1},
		{Lo: 0x180b, Hi: 0x180d, Stride: 1},
		{Lo: 0x180f, Hi: 0x180f, Stride: 1},
		{Lo: 0x3164, Hi: 0x3164, Stride: 1},
		{Lo: 0xfe00, Hi: 0xfe0f, Stride: 1},
		{Lo: 0xffa0, Hi: 0xffa0, Stride: 1},
	},
	R32: []unicode.Range32{
		{Lo: 0xe0100, Hi: 0xe01ef, Stride: 1},
	},
}

// Rune reports whether r renders as nothing: a format character (Unicode
// Cf: a zero-width space, a bidirectional override, a byte order mark) or
// another default-ignorable code point (a variation selector, a Hangul
// filler, the combining grapheme joiner).
func Rune(r rune) bool {
	return unicode.Is(unicode.Cf, r) || unicode.Is(ranges, r)
}
