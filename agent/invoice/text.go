package invoice

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// xmlSafe reports whether s holds only characters an XML 1.0 document can
// carry unchanged through parsing and canonicalisation: valid UTF-8, no C0
// controls other than tab and line feed (a carriage return would be normalised away by the
// verifier's parser and break the invoice hash), no U+FFFE/U+FFFF.
func xmlSafe(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		switch {
		case r == '\t' || r == '\n':
		case r < 0x20, r == 0x7f, r == 0xFFFE, r == 0xFFFF:
			return false
		}
	}
	return true
}

// requireText checks a mandatory text field: present and not blank
// (missingRule), XML-safe, and at most maxLen characters (lengthRule).
func requireText(e *errs, field, v, missingRule, missingMsg string, maxLen int, lengthRule string) {
	if strings.TrimSpace(v) == "" {
		e.add(field, missingRule, missingMsg)
		return
	}
	checkText(e, field, v, maxLen, lengthRule)
}

// optionalText checks a text field that may be empty; when given it must not
// be blank, must be XML-safe and at most maxLen characters (RuleLimit).
func optionalText(e *errs, field, v string, maxLen int) {
	if v == "" {
		return
	}
	if strings.TrimSpace(v) == "" {
		e.add(field, RuleText, "must not be blank when given")
		return
	}
	checkText(e, field, v, maxLen, RuleLimit)
}

func checkText(e *errs, field, v string, maxLen int, lengthRule string) {
	if !xmlSafe(v) {
		e.add(field, RuleText, "contains a control character an XML document cannot carry")
		return
	}
	if n := utf8.RuneCountInString(v); n > maxLen {
		e.add(field, lengthRule, fmt.Sprintf("is %d characters long; the limit is %d", n, maxLen))
	}
}

// isVATNumber: 15 digits, the first and the last being 3 (BR-KSA-40/44).
func isVATNumber(s string) bool {
	return isDigits(s, 15) && s[0] == '3' && s[14] == '3'
}

// isDigits reports whether s is exactly n ASCII digits.
func isDigits(s string, n int) bool {
	return len(s) == n && allDigits(s)
}

// isAlnum reports whether s is non-empty ASCII letters and digits only.
func isAlnum(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// parseDate parses a YYYY-MM-DD calendar date of the years 2000–2099 (the
// range both BR-KSA-F-01 and BR-KSA-36 accept).
func parseDate(s string) (time.Time, bool) {
	if len(s) != 10 || s[0] != '2' || s[1] != '0' {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, s)
	return t, err == nil
}

// joinNames renders Arabic and English names the ZATCA way: "ar | en".
func joinNames(ar, en string) string {
	ar, en = strings.TrimSpace(ar), strings.TrimSpace(en)
	switch {
	case ar == "":
		return en
	case en == "":
		return ar
	default:
		return ar + " | " + en
	}
}
