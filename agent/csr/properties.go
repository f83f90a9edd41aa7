package csr

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// propertyKeys maps the SDK's csr-config keys (SPEC §1.3) to Config fields.
var propertyKeys = map[string]func(*Config) *string{
	"csr.common.name":                func(c *Config) *string { return &c.CommonName },
	"csr.serial.number":              func(c *Config) *string { return &c.SerialNumber },
	"csr.organization.identifier":    func(c *Config) *string { return &c.OrganizationIdentifier },
	"csr.organization.unit.name":     func(c *Config) *string { return &c.OrganizationUnit },
	"csr.organization.name":          func(c *Config) *string { return &c.Organization },
	"csr.country.name":               func(c *Config) *string { return &c.Country },
	"csr.invoice.type":               func(c *Config) *string { return &c.InvoiceType },
	"csr.location.address":           func(c *Config) *string { return &c.Location },
	"csr.industry.business.category": func(c *Config) *string { return &c.Industry },
}

// ParseProperties reads an SDK csr-config .properties file (UTF-8; Java
// syntax: "key=value", "key: value" or "key value", # and ! comments,
// backslash continuation lines and \uXXXX escapes). It sets every field but
// Environment, which the file does not carry; call Validate afterwards.
// Unknown and repeated keys are errors.
func ParseProperties(data []byte) (Config, error) {
	var c Config
	if !utf8.Valid(data) {
		return c, fmt.Errorf("csr parse properties: %w: file is not UTF-8", ErrInvalidConfig)
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimLeft(sc.Text(), " \t\f")
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		start := lineNo
		for endsWithOddBackslashes(line) && sc.Scan() {
			lineNo++
			line = line[:len(line)-1] + strings.TrimLeft(sc.Text(), " \t\f")
		}
		key, value := splitProperty(line)
		k, err := unescape(key)
		if err != nil {
			return c, fmt.Errorf("csr parse properties: line %d: %w: %v", start, ErrInvalidConfig, err)
		}
		v, err := unescape(value)
		if err != nil {
			return c, fmt.Errorf("csr parse properties: line %d (%s): %w: %v", start, k, ErrInvalidConfig, err)
		}
		field, ok := propertyKeys[k]
		if !ok {
			return c, fmt.Errorf("csr parse properties: line %d: %w: unknown key %q", start, ErrInvalidConfig, k)
		}
		if seen[k] {
			return c, fmt.Errorf("csr parse properties: line %d: %w: key %q repeated", start, ErrInvalidConfig, k)
		}
		seen[k] = true
		*field(&c) = strings.TrimRight(v, " \t\f\r")
	}
	if err := sc.Err(); err != nil {
		return c, fmt.Errorf("csr parse properties: %w", err)
	}
	return c, nil
}

func endsWithOddBackslashes(s string) bool {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n%2 == 1
}

// splitProperty splits at the first unescaped '=', ':' or whitespace, as
// java.util.Properties does: whitespace around the separator is dropped,
// and "key = value" has one separator.
func splitProperty(line string) (string, string) {
	for i := 0; i < len(line); i++ {
		switch c := line[i]; c {
		case '\\':
			i++
		case '=', ':', ' ', '\t', '\f':
			key, rest := line[:i], line[i+1:]
			if c == ' ' || c == '\t' || c == '\f' {
				rest = strings.TrimLeft(rest, " \t\f")
				if rest != "" && (rest[0] == '=' || rest[0] == ':') {
					rest = rest[1:]
				}
			}
			return key, strings.TrimLeft(rest, " \t\f")
		}
	}
	return line, ""
}

// unescape resolves Java properties escapes, including \uXXXX (with
// surrogate pairs).
func unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var units []uint16 // pending UTF-16 from \u escapes
	var sb strings.Builder
	flush := func() {
		sb.WriteString(string(utf16.Decode(units)))
		units = units[:0]
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			flush()
			sb.WriteByte(s[i])
			continue
		}
		i++
		if i == len(s) {
			break
		}
		if s[i] == 'u' {
			if len(s)-i-1 < 4 {
				return "", fmt.Errorf(`truncated \u escape`)
			}
			u, err := strconv.ParseUint(s[i+1:i+5], 16, 16)
			if err != nil {
				return "", fmt.Errorf(`bad \u escape %q`, s[i-1:i+5])
			}
			units = append(units, uint16(u))
			i += 4
			continue
		}
		flush()
		switch s[i] {
		case 't':
			sb.WriteByte('\t')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 'f':
			sb.WriteByte('\f')
		default:
			sb.WriteByte(s[i])
		}
	}
	flush()
	return sb.String(), nil
}
