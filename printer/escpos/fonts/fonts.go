// Package fonts embeds the typefaces that printer/escpos uses to draw text
// as raster images: Noto Sans Arabic and Noto Sans, regular and bold, under the
// SIL Open Font License 1.1 (see OFL.txt in this directory, which must travel
// with the binary's notices). It owns only the font files; it imports nothing
// but embed.
package fonts

import _ "embed"

// Regular and bold faces of Noto Sans Arabic (Arabic script, Arabic-Indic
// digits) and Noto Sans (Latin, Greek, Cyrillic), as unmodified TrueType files.
var (
	//go:embed NotoSansArabic-Regular.ttf
	ArabicRegular []byte
	//go:embed NotoSansArabic-Bold.ttf
	ArabicBold []byte
	//go:embed NotoSans-Regular.ttf
	LatinRegular []byte
	//go:embed NotoSans-Bold.ttf
	LatinBold []byte
)

// License is the text of OFL.txt: the copyright notices and the SIL Open Font
// License 1.1 that apply to the embedded fonts.
//
//go:embed OFL.txt
var License string
