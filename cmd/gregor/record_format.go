package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recordFormatter appends one record's printed form to dst.
type recordFormatter func(dst []byte, r *kgo.Record) []byte

// recordFormatHelp describes --format.
const recordFormatHelp = `output format: "value" (the value and a newline), "json" (one object per
line with topic, partition, offset, timestamp, key, value, headers), or a
template where %t is the topic, %p partition, %o offset, %d timestamp in
milliseconds, %T timestamp in RFC 3339, %k key, %v value, %h headers as
k=v,k=v, %% a percent sign, and \n \t \\ are escapes`

// parseRecordFormat compiles a --format value.
func parseRecordFormat(spec string) (recordFormatter, error) {
	switch spec {
	case "json":
		return appendJSONRecord, nil
	case "value":
		spec = `%v\n`
	}
	return compileRecordTemplate(spec)
}

// compileRecordTemplate turns a template into a formatter, rejecting
// unknown verbs and escapes up front.
func compileRecordTemplate(template string) (recordFormatter, error) {
	var pieces []recordFormatter
	var literal strings.Builder
	flushLiteral := func() {
		if literal.Len() > 0 {
			text := literal.String()
			pieces = append(pieces, func(dst []byte, _ *kgo.Record) []byte { return append(dst, text...) })
			literal.Reset()
		}
	}
	for i := 0; i < len(template); i++ {
		c := template[i]
		if c != '%' && c != '\\' {
			literal.WriteByte(c)
			continue
		}
		if i+1 == len(template) {
			return nil, fmt.Errorf("format %q ends in a lone %q", template, c)
		}
		i++
		if c == '\\' {
			escaped, ok := templateEscapes[template[i]]
			if !ok {
				return nil, fmt.Errorf("format %q: unknown escape \\%c (want \\n, \\t or \\\\)", template, template[i])
			}
			literal.WriteByte(escaped)
			continue
		}
		if template[i] == '%' {
			literal.WriteByte('%')
			continue
		}
		verb, ok := recordVerbs[template[i]]
		if !ok {
			return nil, fmt.Errorf("format %q: unknown verb %%%c (want one of %%t %%p %%o %%d %%T %%k %%v %%h %%%%)", template, template[i])
		}
		flushLiteral()
		pieces = append(pieces, verb)
	}
	flushLiteral()
	return func(dst []byte, r *kgo.Record) []byte {
		for _, p := range pieces {
			dst = p(dst, r)
		}
		return dst
	}, nil
}

// templateEscapes are the backslash escapes of a template.
var templateEscapes = map[byte]byte{'n': '\n', 't': '\t', '\\': '\\'}

// recordVerbs are the template verbs.
var recordVerbs = map[byte]recordFormatter{
	't': func(dst []byte, r *kgo.Record) []byte { return append(dst, r.Topic...) },
	'p': func(dst []byte, r *kgo.Record) []byte { return strconv.AppendInt(dst, int64(r.Partition), 10) },
	'o': func(dst []byte, r *kgo.Record) []byte { return strconv.AppendInt(dst, r.Offset, 10) },
	'd': func(dst []byte, r *kgo.Record) []byte { return strconv.AppendInt(dst, r.Timestamp.UnixMilli(), 10) },
	'T': func(dst []byte, r *kgo.Record) []byte {
		return r.Timestamp.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z07:00")
	},
	'k': func(dst []byte, r *kgo.Record) []byte { return append(dst, r.Key...) },
	'v': func(dst []byte, r *kgo.Record) []byte { return append(dst, r.Value...) },
	'h': func(dst []byte, r *kgo.Record) []byte {
		for i, h := range r.Headers {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, h.Key...)
			dst = append(dst, '=')
			dst = append(dst, h.Value...)
		}
		return dst
	},
}

// jsonRecord is the shape of a record in --format json. A key or value
// that is valid UTF-8 is a string; one that is not is null with its bytes in
// key_base64/value_base64 instead, so nothing is lost; a null key or value
// is null with no base64 twin.
type jsonRecord struct {
	Topic       string       `json:"topic"`
	Partition   int32        `json:"partition"`
	Offset      int64        `json:"offset"`
	Timestamp   int64        `json:"timestamp"` // milliseconds since the Unix epoch
	Key         *string      `json:"key"`
	KeyBase64   []byte       `json:"key_base64,omitempty"`
	Value       *string      `json:"value"`
	ValueBase64 []byte       `json:"value_base64,omitempty"`
	Headers     []jsonHeader `json:"headers"`
}

// jsonHeader is one record header in --format json.
type jsonHeader struct {
	Key         string  `json:"key"`
	Value       *string `json:"value"`
	ValueBase64 []byte  `json:"value_base64,omitempty"`
}

// jsonBytes splits b into its JSON string form or its base64 twin.
func jsonBytes(b []byte) (*string, []byte) {
	if b == nil {
		return nil, nil
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, nil
	}
	return nil, b
}

// appendJSONRecord appends r as one JSON object and a newline.
func appendJSONRecord(dst []byte, r *kgo.Record) []byte {
	out := jsonRecord{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Timestamp: r.Timestamp.UnixMilli(),
		Headers:   make([]jsonHeader, 0, len(r.Headers)),
	}
	out.Key, out.KeyBase64 = jsonBytes(r.Key)
	out.Value, out.ValueBase64 = jsonBytes(r.Value)
	for _, h := range r.Headers {
		jh := jsonHeader{Key: h.Key}
		jh.Value, jh.ValueBase64 = jsonBytes(h.Value)
		out.Headers = append(out.Headers, jh)
	}
	encoded, err := json.Marshal(out)
	if err != nil {
		// Every field is a string, number or byte slice: Marshal cannot fail.
		panic(fmt.Sprintf("encode record as JSON: %v", err))
	}
	return append(append(dst, encoded...), '\n')
}

// parseTimestamp reads milliseconds since the epoch or an RFC 3339 time.
func parseTimestamp(text string) (int64, error) {
	if ms, err := strconv.ParseInt(text, 10, 64); err == nil {
		return ms, nil
	}
	t, err := time.Parse(time.RFC3339Nano, text)
	if err != nil {
		return 0, fmt.Errorf("timestamp %q: want milliseconds since the epoch or RFC 3339 (2006-01-02T15:04:05Z)", text)
	}
	return t.UnixMilli(), nil
}
