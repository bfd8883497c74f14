package main

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// property is one key/value pair read from a Java properties file, with the
// number of the natural line its logical line starts on (1-based).
type property struct {
	Key   string
	Value string
	Line  int
}

// maxPropertiesBytes bounds the size of a properties file we read: a
// server.properties is a few kilobytes, so anything bigger is a mistake.
const maxPropertiesBytes = 4 << 20

// parseProperties reads text in the format of java.util.Properties.load:
// comment lines start with '#' or '!', a key ends at the first unescaped '=',
// ':' or whitespace, a line ending in an odd number of backslashes continues
// on the next line (whose leading whitespace is dropped), and \t \n \r \f
// \uXXXX and \<any> are escapes. Later keys replace earlier ones when the
// caller builds a map; here every pair is returned in file order. The text is
// read as UTF-8 (Java reads ISO-8859-1), which agrees on ASCII files.
func parseProperties(text string) ([]property, error) {
	if len(text) > maxPropertiesBytes {
		return nil, fmt.Errorf("properties text is %d bytes, more than the limit of %d", len(text), maxPropertiesBytes)
	}
	var props []property
	lines := newNaturalLines(text)
	for {
		logical, lineNumber, ok := lines.nextLogical()
		if !ok {
			return props, nil
		}
		rawKey, rawValue := splitKeyValue(logical)
		key, err := unescapeProperty(rawKey)
		if err != nil {
			return nil, fmt.Errorf("line %d: key: %w", lineNumber, err)
		}
		value, err := unescapeProperty(rawValue)
		if err != nil {
			return nil, fmt.Errorf("line %d: value of %q: %w", lineNumber, key, err)
		}
		props = append(props, property{Key: key, Value: value, Line: lineNumber})
	}
}

// naturalLines walks text one natural line at a time, where a line ends at
// "\n", "\r" or "\r\n", as Java's LineReader does.
type naturalLines struct {
	text       string
	offset     int
	lineNumber int // number of the line most recently returned
}

func newNaturalLines(text string) *naturalLines {
	return &naturalLines{text: text}
}

// next returns the next natural line without its terminator.
func (l *naturalLines) next() (string, bool) {
	if l.offset >= len(l.text) {
		return "", false
	}
	rest := l.text[l.offset:]
	end := strings.IndexAny(rest, "\r\n")
	l.lineNumber++
	if end < 0 {
		l.offset = len(l.text)
		return rest, true
	}
	l.offset += end + 1
	if rest[end] == '\r' && end+1 < len(rest) && rest[end+1] == '\n' {
		l.offset++
	}
	return rest[:end], true
}

// nextLogical returns the next logical line: blank and comment lines are
// skipped, leading whitespace is dropped, and continuation lines are joined
// (without their continuing backslash). The line number is that of the first
// natural line.
func (l *naturalLines) nextLogical() (string, int, bool) {
	for {
		line, ok := l.next()
		if !ok {
			return "", 0, false
		}
		line = trimLeadingPropertySpace(line)
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		first := l.lineNumber
		var logical strings.Builder
		for endsWithContinuation(line) {
			logical.WriteString(line[:len(line)-1])
			next, more := l.next()
			if !more {
				line = ""
				break
			}
			line = trimLeadingPropertySpace(next)
		}
		logical.WriteString(line)
		return logical.String(), first, true
	}
}

// isPropertySpace reports whether c is whitespace to Java properties.
func isPropertySpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\f'
}

func trimLeadingPropertySpace(s string) string {
	i := 0
	for i < len(s) && isPropertySpace(s[i]) {
		i++
	}
	return s[i:]
}

// endsWithContinuation reports whether line ends in an odd number of
// backslashes, that is with a backslash that is not itself escaped.
func endsWithContinuation(line string) bool {
	backslashes := 0
	for i := len(line) - 1; i >= 0 && line[i] == '\\'; i-- {
		backslashes++
	}
	return backslashes%2 == 1
}

// splitKeyValue splits a logical line into its raw (still escaped) key and
// value: the key ends at the first unescaped '=', ':' or whitespace; then
// whitespace, at most one '=' or ':', and whitespace again separate it from
// the value.
func splitKeyValue(line string) (string, string) {
	keyEnd := len(line)
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c == '\\' {
			i++ // the escaped character belongs to the key
			continue
		}
		if c == '=' || c == ':' || isPropertySpace(c) {
			keyEnd = i
			break
		}
	}
	rest := trimLeadingPropertySpace(line[keyEnd:])
	if rest != "" && (rest[0] == '=' || rest[0] == ':') {
		rest = trimLeadingPropertySpace(rest[1:])
	}
	return line[:keyEnd], rest
}

// unescapeProperty resolves the escapes of a raw key or value.
func unescapeProperty(raw string) (string, error) {
	if !strings.Contains(raw, `\`) {
		return raw, nil
	}
	var out strings.Builder
	out.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			out.WriteByte(c)
			continue
		}
		i++
		if i == len(raw) {
			break // a lone trailing backslash (only at end of input) is dropped
		}
		switch raw[i] {
		case 't':
			out.WriteByte('\t')
		case 'n':
			out.WriteByte('\n')
		case 'r':
			out.WriteByte('\r')
		case 'f':
			out.WriteByte('\f')
		case 'u':
			r, width, err := decodeUnicodeEscapes(raw[i+1:])
			if err != nil {
				return "", err
			}
			out.WriteRune(r)
			i += width
		default:
			out.WriteByte(raw[i])
		}
	}
	return out.String(), nil
}

// decodeUnicodeEscapes reads the four hex digits after a \u and, when
// they are a UTF-16 high surrogate followed by a low surrogate escape, that
// second escape too. It returns the rune and how many bytes of s it used. A
// lone surrogate becomes U+FFFD, since UTF-8 cannot hold it.
func decodeUnicodeEscapes(s string) (rune, int, error) {
	r, err := decodeHex4(s)
	if err != nil {
		return 0, 0, err
	}
	if !utf16.IsSurrogate(r) {
		return r, 4, nil
	}
	if len(s) >= 10 && s[4:6] == `\u` {
		if low, err := decodeHex4(s[6:]); err == nil {
			if pair := utf16.DecodeRune(r, low); pair != utf8.RuneError {
				return pair, 10, nil
			}
		}
	}
	return utf8.RuneError, 4, nil
}

// decodeHex4 reads the four hex digits of a \uXXXX escape.
func decodeHex4(s string) (rune, error) {
	if len(s) < 4 {
		return 0, fmt.Errorf("malformed \\uxxxx escape %q: want four hex digits", `\u`+s)
	}
	var r rune
	for _, c := range []byte(s[:4]) {
		var digit rune
		switch {
		case c >= '0' && c <= '9':
			digit = rune(c - '0')
		case c >= 'a' && c <= 'f':
			digit = rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			digit = rune(c-'A') + 10
		default:
			return 0, fmt.Errorf("malformed \\uxxxx escape %q: want four hex digits", `\u`+s[:4])
		}
		r = r<<4 | digit
	}
	return r, nil
}

// formatProperty writes key and value as one properties line (without the
// line terminator) that parseProperties reads back as the same pair.
func formatProperty(key, value string) string {
	return escapeProperty(key, true) + "=" + escapeProperty(value, false)
}

// escapeProperty escapes s for a properties file. In a key every separator
// and space is escaped; in a value only a leading space needs to be.
func escapeProperty(s string, isKey bool) string {
	var out strings.Builder
	out.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			out.WriteString(`\\`)
		case '\t':
			out.WriteString(`\t`)
		case '\n':
			out.WriteString(`\n`)
		case '\r':
			out.WriteString(`\r`)
		case '\f':
			out.WriteString(`\f`)
		case '=', ':', '#', '!':
			if isKey || i == 0 {
				out.WriteByte('\\')
			}
			out.WriteByte(c)
		case ' ':
			if isKey || i == 0 {
				out.WriteByte('\\')
			}
			out.WriteByte(c)
		default:
			out.WriteByte(c)
		}
	}
	return out.String()
}
