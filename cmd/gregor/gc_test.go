package main

import (
	"errors"
	"math"
	"testing"
)

func TestGCDefaults(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	tests := []struct {
		name        string
		env         map[string]string
		memoryBytes int64
		cacheBytes  int64
		want        gcSettings
	}{
		{"half the memory", nil, 16 << 30, 256 << 20, gcSettings{percent: 200, limitBytes: 8 << 30}},
		{"a large cache raises the limit", nil, 4 << 30, 2 << 30, gcSettings{percent: 200, limitBytes: 3<<30 + 512<<20}},
		{"memory unknown", nil, 0, 256 << 20, gcSettings{percent: 200, limitBytes: math.MaxInt64}},
		{"GOGC set", map[string]string{"GOGC": "off"}, 16 << 30, 0, gcSettings{percent: -1, limitBytes: 8 << 30}},
		{"GOMEMLIMIT set", map[string]string{"GOMEMLIMIT": "1GiB"}, 16 << 30, 0, gcSettings{percent: 200, limitBytes: -1}},
	}
	for _, tt := range tests {
		if got := gcDefaults(env(tt.env), tt.memoryBytes, tt.cacheBytes); got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestProcessMemoryBytes(t *testing.T) {
	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(p string) ([]byte, error) {
			if v, ok := m[p]; ok {
				return []byte(v), nil
			}
			return nil, errors.New("no such file")
		}
	}
	meminfo := "MemTotal:       24683748 kB\nMemFree:        1000 kB\n"
	tests := []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"machine", map[string]string{"/proc/meminfo": meminfo}, 24683748 << 10},
		{"cgroup v2 limit", map[string]string{"/proc/meminfo": meminfo, "/sys/fs/cgroup/memory.max": "2147483648\n"}, 2 << 30},
		{"cgroup v2 without limit", map[string]string{"/proc/meminfo": meminfo, "/sys/fs/cgroup/memory.max": "max\n"}, 24683748 << 10},
		{"cgroup v1 unlimited", map[string]string{"/proc/meminfo": meminfo, "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"}, 24683748 << 10},
		{"cgroup v1 limit", map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "1073741824"}, 1 << 30},
		{"nothing readable", nil, 0},
	}
	for _, tt := range tests {
		if got := processMemoryBytes(files(tt.files)); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}
