package main

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseProperties(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []property
	}{
		{"empty", "", nil},
		{"equals", "a=b", []property{{"a", "b", 1}}},
		{"colon", "a:b", []property{{"a", "b", 1}}},
		{"space separator", "a b", []property{{"a", "b", 1}}},
		{"spaces around separator", "  a  =  b c  ", []property{{"a", "b c  ", 1}}},
		{"tab and form feed", "\ta\t:\fb", []property{{"a", "b", 1}}},
		{"only the first separator", "a=b=c:d", []property{{"a", "b=c:d", 1}}},
		{"space then equals", "a = =b", []property{{"a", "=b", 1}}},
		{"key only", "a", []property{{"a", "", 1}}},
		{"empty key", "=b", []property{{"", "b", 1}}},
		{"comments and blanks", "# c\n! c\n\n   \n  # indented\na=1", []property{{"a", "1", 6}}},
		{"hash inside a value", "a=b # not a comment", []property{{"a", "b # not a comment", 1}}},
		{"crlf and cr endings", "a=1\r\nb=2\rc=3\n", []property{{"a", "1", 1}, {"b", "2", 2}, {"c", "3", 3}}},
		{"continuation", "a=one, \\\n    two, \\\n\tthree\nb=2", []property{{"a", "one, two, three", 1}, {"b", "2", 4}}},
		{"escaped backslash is no continuation", "a=x\\\\\nb=y", []property{{"a", `x\`, 1}, {"b", "y", 2}}},
		{"continuation at end of input", "a=x\\", []property{{"a", "x", 1}}},
		{"comment line does not continue", "# c \\\na=1", []property{{"a", "1", 2}}},
		{"continued line starting with hash", "a=x\\\n#y", []property{{"a", "x#y", 1}}},
		{"escapes", `a=\t\n\r\f\\\q\=`, []property{{"a", "\t\n\r\f\\q=", 1}}},
		{"escaped separators in key", `a\=b\:c\ d=e`, []property{{"a=b:c d", "e", 1}}},
		{"unicode escape", `a=caf\u00e9 \u20AC`, []property{{"a", "café €", 1}}},
		{"surrogate pair", `a=\ud83d\ude00`, []property{{"a", "😀", 1}}},
		{"lone surrogate", `a=\ud83dx`, []property{{"a", "\uFFFDx", 1}}},
		{"utf-8 passes through", "ключ=значение", []property{{"ключ", "значение", 1}}},
		{"duplicates kept in order", "a=1\na=2", []property{{"a", "1", 1}, {"a", "2", 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProperties(tt.text)
			if err != nil {
				t.Fatalf("parseProperties(%q): %v", tt.text, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseProperties(%q)\n got %v\nwant %v", tt.text, got, tt.want)
			}
		})
	}
}

func TestParsePropertiesErrors(t *testing.T) {
	tests := []struct {
		name, text, wantInError string
	}{
		{"short unicode escape", `a=\u12`, "line 1: value of \"a\": malformed \\uxxxx escape"},
		{"bad hex digit", "x=1\nb=\\u12g4", "line 2: value of \"b\""},
		{"bad escape in key", `k\u00zz=1`, "line 1: key: malformed"},
		{"too big", strings.Repeat("#", maxPropertiesBytes+1), "more than the limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseProperties(tt.text)
			if err == nil || !strings.Contains(err.Error(), tt.wantInError) {
				t.Fatalf("parseProperties: error %v, want one containing %q", err, tt.wantInError)
			}
		})
	}
}

func TestFormatPropertyRoundTrips(t *testing.T) {
	pairs := [][2]string{
		{"a", "b"}, {"", ""}, {"", "=x"}, {"k", " leading space"}, {"k", "trailing\\"},
		{"#key", "!value"}, {"a b=c:d", "x=y:z # w"}, {"k", "line\nbreak\ttab\r\f"}, {"k", "#"},
	}
	for _, p := range pairs {
		line := formatProperty(p[0], p[1])
		got, err := parseProperties(line)
		if err != nil || len(got) != 1 || got[0].Key != p[0] || got[0].Value != p[1] {
			t.Errorf("formatProperty(%q, %q) = %q, which parses to %v, %v", p[0], p[1], line, got, err)
		}
	}
}

// FuzzParseProperties checks that the parser never panics and that every
// pair it returns survives formatProperty and a second parse unchanged.
func FuzzParseProperties(f *testing.F) {
	seeds := []string{
		"", "a=b", "a:b\nc d", "# c\n! c\n a = b \\\n  c", `k\=\:\ =\t\n\u00e9\ud83d\ude00`,
		"a=x\\\\\nb=y\\", "\r\n\r", "=\n:\n \\", `\u12`, "key\\\n\\\n=v",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		props, err := parseProperties(text)
		if err != nil {
			return
		}
		var formatted strings.Builder
		for _, p := range props {
			if p.Line < 1 {
				t.Fatalf("property %q has line %d", p.Key, p.Line)
			}
			formatted.WriteString(formatProperty(p.Key, p.Value))
			formatted.WriteByte('\n')
		}
		again, err := parseProperties(formatted.String())
		if err != nil {
			t.Fatalf("reparse of %q: %v", formatted.String(), err)
		}
		if len(again) != len(props) {
			t.Fatalf("reparse gave %d pairs, want %d: %q", len(again), len(props), formatted.String())
		}
		for i := range props {
			if again[i].Key != props[i].Key || again[i].Value != props[i].Value {
				t.Fatalf("pair %d: %q=%q became %q=%q", i, props[i].Key, props[i].Value, again[i].Key, again[i].Value)
			}
		}
	})
}
