package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"go.uber.org/zap/zapcore"
)

// configValueError says that a configuration key has a value that is not of
// the expected form; startup stops on it.
type configValueError struct {
	Key      string // the key as the user wrote it
	Value    string // the value as the user wrote it
	Source   string // "default", "--set", or "FILE:LINE"
	Expected string // the expected form, e.g. "an integer from 1 to 32767"
}

// Error implements error.
func (e *configValueError) Error() string {
	return fmt.Sprintf("invalid value %q for %s (from %s): want %s", e.Value, e.Key, e.Source, e.Expected)
}

// integer is the set of integer types brokerConfig fields use.
type integer interface {
	~int16 | ~int32 | ~int64
}

// bitsOf returns the width of T in bits.
func bitsOf[T integer]() int {
	var zero T
	switch any(zero).(type) {
	case int16:
		return 16
	case int32:
		return 32
	default:
		return 64
	}
}

// maxOf returns the largest value of T.
func maxOf[T integer]() T {
	return T(int64(1)<<(bitsOf[T]()-1) - 1)
}

// integerRange is the allowed range of an integer key. unlimited, when true,
// also allows -1 (Kafka's "no limit") below minimum.
type integerRange[T integer] struct {
	minimum, maximum T
	unlimited        bool
}

// contains reports whether v is in the range.
func (r integerRange[T]) contains(v int64) bool {
	if r.unlimited && v == -1 {
		return true
	}
	return v >= int64(r.minimum) && v <= int64(r.maximum)
}

// describe says what values the range allows, in words.
func (r integerRange[T]) describe(noun string) string {
	var span string
	switch {
	case int64(r.minimum) == math.MinInt64:
		span = fmt.Sprintf("%s of at most %d", noun, r.maximum)
	case r.maximum == maxOf[T]():
		span = fmt.Sprintf("%s of at least %d", noun, r.minimum)
	default:
		span = fmt.Sprintf("%s from %d to %d", noun, r.minimum, r.maximum)
	}
	if r.unlimited {
		return "-1 (unlimited) or " + span
	}
	return span
}

// parseInteger reads a decimal integer of type T within r.
func parseInteger[T integer](value string, r integerRange[T]) (T, string, bool) {
	expected := r.describe("an integer")
	v, err := strconv.ParseInt(strings.TrimSpace(value), 10, bitsOf[T]())
	if err != nil || !r.contains(v) {
		return 0, expected, false
	}
	return T(v), expected, true
}

// byteSuffixes are the binary multipliers a size may end with.
var byteSuffixes = []struct {
	suffix     string
	multiplier int64
}{
	{"KiB", 1 << 10},
	{"MiB", 1 << 20},
	{"GiB", 1 << 30},
	{"TiB", 1 << 40},
}

// parseByteCount reads a byte count of type T within r: a plain integer as
// Kafka writes it, or one with a KiB, MiB, GiB or TiB suffix ("256MiB").
func parseByteCount[T integer](value string, r integerRange[T]) (T, string, bool) {
	expected := r.describe("a byte count") + " (plain, or with a KiB/MiB/GiB/TiB suffix such as 64MiB)"
	text := strings.TrimSpace(value)
	multiplier := int64(1)
	for _, s := range byteSuffixes {
		if strings.HasSuffix(text, s.suffix) {
			text = strings.TrimSpace(strings.TrimSuffix(text, s.suffix))
			multiplier = s.multiplier
			break
		}
	}
	v, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return 0, expected, false
	}
	if multiplier != 1 {
		if v < 0 || v > math.MaxInt64/multiplier {
			return 0, expected, false
		}
		v *= multiplier
	}
	if !r.contains(v) || v > int64(maxOf[T]()) {
		return 0, expected, false
	}
	return T(v), expected, true
}

// parseBoolean reads "true" or "false" in any case, as Kafka does.
func parseBoolean(value string) (bool, string, bool) {
	const expected = "true or false"
	switch strings.ToLower(strings.TrimSpace(value)) {
	case "true":
		return true, expected, true
	case "false":
		return false, expected, true
	}
	return false, expected, false
}

// parseChoice reads one of allowed, compared exactly as Kafka does.
func parseChoice(value string, allowed []string) (string, string, bool) {
	expected := "one of " + strings.Join(allowed, ", ")
	v := strings.TrimSpace(value)
	for _, a := range allowed {
		if v == a {
			return v, expected, true
		}
	}
	return "", expected, false
}

// parseChoiceList reads a comma-separated, non-empty list of distinct
// entries from allowed.
func parseChoiceList(value string, allowed []string) ([]string, string, bool) {
	expected := "a comma-separated list of " + strings.Join(allowed, ", ")
	var list []string
	for _, part := range strings.Split(value, ",") {
		v, _, ok := parseChoice(part, allowed)
		if !ok {
			return nil, expected, false
		}
		for _, seen := range list {
			if seen == v {
				return nil, expected, false
			}
		}
		list = append(list, v)
	}
	return list, expected, true
}

// parsePathList reads a comma-separated, non-empty list of distinct paths.
func parsePathList(value string) ([]string, string, bool) {
	const expected = "a comma-separated list of one or more distinct directories"
	var paths []string
	for _, part := range strings.Split(value, ",") {
		p := strings.TrimSpace(part)
		if p == "" {
			return nil, expected, false
		}
		for _, seen := range paths {
			if seen == p {
				return nil, expected, false
			}
		}
		paths = append(paths, p)
	}
	return paths, expected, true
}

// parseLogLevel reads a zap level name.
func parseLogLevel(value string) (zapcore.Level, string, bool) {
	const expected = "one of debug, info, warn, error"
	switch strings.ToLower(strings.TrimSpace(value)) {
	case "debug":
		return zapcore.DebugLevel, expected, true
	case "info":
		return zapcore.InfoLevel, expected, true
	case "warn":
		return zapcore.WarnLevel, expected, true
	case "error":
		return zapcore.ErrorLevel, expected, true
	}
	return zapcore.InfoLevel, expected, false
}
