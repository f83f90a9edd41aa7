package invoice

import (
	"strings"
	"unicode"
)

// exemption is one VAT exemption / exception reason code of XMLSTD §11.2.4
// (BR-KSA-CL-04) with the category it belongs to and its official reason
// text (BR-KSA-83). VATEX-SA-OOS has no official text: it is free text.
type exemption struct {
	category string
	text     string
}

// exemptions is the KSA reason code list. The English texts are the ones the
// ZATCA schematron matched (whitespace-insensitively) for BR-KSA-83.
var exemptions = map[string]exemption{
	"VATEX-SA-29":    {"E", "Financial services mentioned in Article 29 of the VAT Regulations"},
	"VATEX-SA-29-7":  {"E", "Life insurance services mentioned in Article 29 of the VAT Regulations"},
	"VATEX-SA-30":    {"E", "Real estate transactions mentioned in Article 30 of the VAT Regulations"},
	"VATEX-SA-32":    {"Z", "Export of goods"},
	"VATEX-SA-33":    {"Z", "Export of services"},
	"VATEX-SA-34-1":  {"Z", "The international transport of Goods"},
	"VATEX-SA-34-2":  {"Z", "international transport of passengers"},
	"VATEX-SA-34-3":  {"Z", "services directly connected and incidental to a Supply of international passenger transport"},
	"VATEX-SA-34-4":  {"Z", "Supply of a qualifying means of transport"},
	"VATEX-SA-34-5":  {"Z", "Any services relating to Goods or passenger transportation, as defined in article twenty five of these Regulations"},
	"VATEX-SA-35":    {"Z", "Medicines and medical equipment"},
	"VATEX-SA-36":    {"Z", "Qualifying metals"},
	"VATEX-SA-EDU":   {"Z", "Private education to citizen"},
	"VATEX-SA-HEA":   {"Z", "Private healthcare to citizen"},
	"VATEX-SA-MLTRY": {"Z", "supply of qualified military goods"},
	"VATEX-SA-OOS":   {"O", ""},
}

// reasonMatches reports whether a POS reason text carries the official text
// of its code: one of its " | "-separated parts (English and Arabic may be
// combined, as in the SDK samples) equals the official text ignoring case
// and whitespace.
func reasonMatches(official, given string) bool {
	want := squash(official)
	for _, part := range strings.Split(given, "|") {
		if squash(part) == want {
			return true
		}
	}
	return false
}

func squash(s string) string {
	var b strings.Builder
	for _, r := range s {
		if !unicode.IsSpace(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}
