package main

import (
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestParseOffsetSpec(t *testing.T) {
	tests := []struct {
		text string
		want offsetSpec
	}{
		{"start", offsetSpec{kind: offsetAtStart}},
		{"beginning", offsetSpec{kind: offsetAtStart}},
		{"oldest", offsetSpec{kind: offsetAtStart}},
		{"end", offsetSpec{kind: offsetAtEnd}},
		{"newest", offsetSpec{kind: offsetAtEnd}},
		{"0", offsetSpec{kind: offsetExact, value: 0}},
		{"42", offsetSpec{kind: offsetExact, value: 42}},
		{"-3", offsetSpec{kind: offsetBeforeEnd, value: 3}},
		{"@1700000000000", offsetSpec{kind: offsetAfterTimestamp, value: 1_700_000_000_000}},
		{"@2023-11-14T22:13:20Z", offsetSpec{kind: offsetAfterTimestamp, value: 1_700_000_000_000}},
		{"@2023-11-14T23:13:20.5+01:00", offsetSpec{kind: offsetAfterTimestamp, value: 1_700_000_000_500}},
	}
	for _, tt := range tests {
		got, err := parseOffsetSpec(tt.text)
		if err != nil || got != tt.want {
			t.Errorf("parseOffsetSpec(%q) = %+v, %v; want %+v", tt.text, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "first", "1.5", "@", "@noon", "@2023-11-14"} {
		if got, err := parseOffsetSpec(bad); err == nil {
			t.Errorf("parseOffsetSpec(%q) = %+v, want an error", bad, got)
		}
	}
}

func TestStartWithin(t *testing.T) {
	r := partitionRange{start: 10, end: 20}
	tests := []struct {
		spec offsetSpec
		want int64
	}{
		{offsetSpec{kind: offsetAtStart}, 10},
		{offsetSpec{kind: offsetAtEnd}, 20},
		{offsetSpec{kind: offsetExact, value: 5}, 10},
		{offsetSpec{kind: offsetExact, value: 15}, 15},
		{offsetSpec{kind: offsetExact, value: 25}, 20},
		{offsetSpec{kind: offsetBeforeEnd, value: 3}, 17},
		{offsetSpec{kind: offsetBeforeEnd, value: 30}, 10},
		{offsetSpec{kind: offsetBeforeEnd, value: 0}, 20},
		// No listed offset after the time: nothing to read.
		{offsetSpec{kind: offsetAfterTimestamp, value: 1}, 20},
	}
	for _, tt := range tests {
		if got := tt.spec.startWithin(r, nil, "t", 0); got != tt.want {
			t.Errorf("%+v.startWithin([10, 20)) = %d, want %d", tt.spec, got, tt.want)
		}
	}
}

func TestRecordTemplates(t *testing.T) {
	r := &kgo.Record{
		Topic: "t", Partition: 3, Offset: 42, Key: []byte("k"), Value: []byte("v"),
		Timestamp: time.UnixMilli(1_700_000_000_123),
		Headers:   []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b"}},
	}
	tests := []struct{ format, want string }{
		{"value", "v\n"},
		{`%v`, "v"},
		{`%t/%p/%o`, "t/3/42"},
		{`%d %T`, "1700000000123 2023-11-14T22:13:20.123Z"},
		{`%k=%v [%h]`, "k=v [a=1,b=]"},
		{`100%% \t\\\n`, "100% \t\\\n"},
		{`plain`, "plain"},
		{``, ""},
	}
	for _, tt := range tests {
		f, err := parseRecordFormat(tt.format)
		if err != nil {
			t.Errorf("parseRecordFormat(%q): %v", tt.format, err)
			continue
		}
		if got := string(f(nil, r)); got != tt.want {
			t.Errorf("format %q printed %q, want %q", tt.format, got, tt.want)
		}
	}
	for _, bad := range []struct{ format, want string }{
		{"%x", "unknown verb %x"},
		{`\q`, `unknown escape \q`},
		{"50%", `ends in a lone '%'`},
		{`a\`, `ends in a lone '\\'`},
	} {
		if _, err := parseRecordFormat(bad.format); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("parseRecordFormat(%q): error %v, want one containing %q", bad.format, err, bad.want)
		}
	}
}

func TestJSONRecordKeepsBytes(t *testing.T) {
	r := &kgo.Record{Topic: "t", Key: nil, Value: []byte{0xff, 0}, Timestamp: time.UnixMilli(5),
		Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("é")}}}
	got := string(appendJSONRecord(nil, r))
	want := `{"topic":"t","partition":0,"offset":0,"timestamp":5,"key":null,"value":null,"value_base64":"/wA=","headers":[{"key":"h","value":"é"}]}` + "\n"
	if got != want {
		t.Errorf("appendJSONRecord\n got %s\nwant %s", got, want)
	}
	r = &kgo.Record{Topic: "t", Key: []byte{}, Value: nil}
	if got, want := string(appendJSONRecord(nil, r)), `{"topic":"t","partition":0,"offset":0,"timestamp":`; !strings.HasPrefix(got, want) ||
		!strings.Contains(got, `"key":"","value":null,"headers":[]`) {
		t.Errorf("appendJSONRecord of an empty key and null value: %s", got)
	}
}
