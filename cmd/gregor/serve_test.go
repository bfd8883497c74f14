package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startServe runs gregor serve with args (plus a JSON logger) until the test
// ends, and returns the address its Kafka listener is bound to, read from
// its "node started" log line.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	bg := startGregor(t, append([]string{"serve", "--set", "log.format=json"}, args...)...)
	t.Cleanup(func() {
		bg.cancel()
		if err := bg.wait(t); err != nil {
			t.Errorf("serve ended with %v\nstderr:\n%s", err, bg.stderr.String())
		}
	})
	deadline := time.Now().Add(commandTimeout)
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for {
		if addr := startedListener(bg.stderr.String()); addr != "" {
			return addr
		}
		select {
		case err := <-bg.done:
			bg.done <- err // for cleanup
			t.Fatalf("serve ended before the node started: %v\nstdout:\n%s\nstderr:\n%s", err, bg.stdout.String(), bg.stderr.String())
		case <-ticker.C:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no \"node started\" line within %s:\n%s", commandTimeout, bg.stderr.String())
		}
	}
}

// startedListener finds the listener of the "node started" line in JSON log
// output, or returns "".
func startedListener(log string) string {
	for _, line := range strings.Split(log, "\n") {
		var entry struct {
			Msg      string `json:"msg"`
			Listener string `json:"listener"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "node started" {
			return entry.Listener
		}
	}
	return ""
}

// TestServeAppliesConfiguration starts a node the way an operator does, from
// a server.properties file with overrides, and checks through the client
// verbs that the settings reached the broker.
func TestServeAppliesConfiguration(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "server.properties")
	file := "node.id=3\nnum.partitions=2\nlisteners=PLAINTEXT://127.0.0.1:0\nmetrics.listener=\n" +
		"log.dirs=" + filepath.Join(dir, "data") + "\n" +
		"message.max.bytes=1KiB \n" + // suffix and trailing space: the broker must still get 1024
		"log.retention.ms=60000\n"
	if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := startServe(t, "--config", path, "--set", "num.partitions=3", "--set", "log.segment.bytes=2MiB")
	b := []string{"-b", addr}

	mustRun(t, "", append([]string{"topic", "create", "defaults"}, b...)...)
	list := mustRun(t, "", append([]string{"topic", "list"}, b...)...)
	if !strings.Contains(list.stdout, "defaults  3 ") {
		t.Errorf("a topic created without -p should have num.partitions=3 (the --set override):\n%s", list.stdout)
	}
	describe := mustRun(t, "", append([]string{"topic", "describe", "defaults"}, b...)...)
	for _, want := range [][]string{
		{"max.message.bytes", "1024", "STATIC_BROKER_CONFIG"},
		{"retention.ms", "60000", "STATIC_BROKER_CONFIG"},
		{"segment.bytes", "2097152", "STATIC_BROKER_CONFIG"},
	} {
		if !containsFields(describe.stdout, want...) {
			t.Errorf("describe has no line %q:\n%s", want, describe.stdout)
		}
	}
	if !strings.Contains(describe.stdout, "0          3       ") {
		t.Errorf("partition 0 should be led by node.id 3:\n%s", describe.stdout)
	}

	// DescribeConfigs of the broker shows every key: those given with
	// their source, the others at their defaults.
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	brokers, err := kadm.NewClient(cl).DescribeBrokerConfigs(ctx, 3)
	if err != nil || len(brokers) != 1 || brokers[0].Err != nil {
		t.Fatalf("DescribeBrokerConfigs: %v %+v", err, brokers)
	}
	got := map[string]kadm.Config{}
	for _, c := range brokers[0].Configs {
		got[c.Key] = c
	}
	for key, want := range map[string]struct {
		value  string
		source kmsg.ConfigSource
	}{
		"num.partitions":             {"3", kmsg.ConfigSourceStaticBrokerConfig},
		"message.max.bytes":          {"1024", kmsg.ConfigSourceStaticBrokerConfig},
		"default.replication.factor": {"1", kmsg.ConfigSourceDefaultConfig},
		"auto.create.topics.enable":  {"true", kmsg.ConfigSourceDefaultConfig},
		"replica.lag.time.max.ms":    {"30000", kmsg.ConfigSourceDefaultConfig},
	} {
		if c, ok := got[key]; !ok || c.MaybeValue() != want.value || c.Source != want.source {
			t.Errorf("broker config %s: %+v (found %v), want %q from %v", key, c, ok, want.value, want.source)
		}
	}

	mustRun(t, "small\n", append([]string{"produce", "defaults", "-q"}, b...)...)
	big := strings.Repeat("x", 2048) + "\n"
	mustFail(t, big, append([]string{"produce", "defaults", "-q"}, b...), "MESSAGE_TOO_LARGE")
}

// containsFields reports whether some line of text has exactly fields as
// its whitespace-separated fields.
func containsFields(text string, fields ...string) bool {
	for _, line := range strings.Split(text, "\n") {
		if strings.Join(strings.Fields(line), " ") == strings.Join(fields, " ") {
			return true
		}
	}
	return false
}

func TestServeFailsOnATakenPort(t *testing.T) {
	taken := startTestNode(t)
	mustFail(t, "", []string{"serve", "--set", "listeners=PLAINTEXT://" + taken, "--set", "metrics.listener=",
		"--set", "log.dirs=" + t.TempDir()}, "listen on "+taken, "address already in use", "give this node free ports with --set (listeners,")
}

// TestServeRefusesALogDirInUse starts a node and a second one over the same
// log directory: the second must stop before it opens a segment (two
// processes appending to one log corrupt it), naming the holder, and the
// first must keep serving; so must a node over another log directory but
// the same metadata.log.dir. Once the first stops, the directory is free.
func TestServeRefusesALogDirInUse(t *testing.T) {
	dir, meta := filepath.Join(t.TempDir(), "data"), filepath.Join(t.TempDir(), "metadata")
	first := startServe(t, "--set", "listeners=PLAINTEXT://127.0.0.1:0", "--set", "metrics.listener=", "--set", "log.dirs="+dir,
		"--set", "metadata.log.dir="+meta)
	mustFail(t, "", []string{"serve", "--set", "listeners=PLAINTEXT://127.0.0.1:0", "--set", "metrics.listener=",
		"--set", "log.dirs=" + dir}, "log.dirs "+dir+" is in use by another gregor process (pid ", "log directory of its own")
	mustFail(t, "", []string{"serve", "--set", "listeners=PLAINTEXT://127.0.0.1:0", "--set", "metrics.listener=",
		"--set", "log.dirs=" + t.TempDir(), "--set", "metadata.log.dir=" + meta},
		"metadata.log.dir "+meta+" is in use by another gregor process (pid ", "(--set metadata.log.dir=DIR)")
	mustRun(t, "", "topic", "list", "-b", first)
	if _, err := os.Stat(filepath.Join(meta, "__cluster_metadata")); err != nil {
		t.Errorf("no metadata log in metadata.log.dir: %v", err)
	}
}

// TestLogDirLockIsReleased takes a directory's lock, gives it back, and
// takes it again.
func TestLogDirLockIsReleased(t *testing.T) {
	dir := t.TempDir()
	release, err := lockLogDir("log.dirs", dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockLogDir("log.dirs", dir); err == nil {
		t.Fatal("a second lock of a held directory succeeded")
	}
	release()
	again, err := lockLogDir("log.dirs", dir)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	again()
}

// TestServeExplainsRefusedBrokerConfigs alters broker configs through kadm
// as an operator would: a key the broker reads only at start needs a
// restart (INVALID_REQUEST), even one unset by default (broker.rack); a key
// no broker knows is INVALID_CONFIG and says so, pointing at the run-time key
// that was likely meant. Before, an unknown key was told to go into
// server.properties, where the broker would ignore it.
func TestServeExplainsRefusedBrokerConfigs(t *testing.T) {
	dir := t.TempDir()
	addr := startServe(t, "--set", "listeners=PLAINTEXT://127.0.0.1:0", "--set", "metrics.listener=",
		"--set", "log.dirs="+filepath.Join(dir, "data"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	adm := kadm.NewClient(cl)
	for _, c := range []struct{ key, code, message string }{
		{"num.partitions", "INVALID_REQUEST", "cannot update broker config num.partitions dynamically; set it in server.properties and restart"},
		{"broker.rack", "INVALID_REQUEST", "cannot update broker config broker.rack dynamically; set it in server.properties and restart"},
		{"log.retention.msx", "INVALID_CONFIG", `unknown broker config "log.retention.msx" (did you mean log.retention.ms?)`},
		{"retention.ms", "INVALID_CONFIG", `unknown broker config "retention.ms": retention.ms is a topic config; the default of every topic is the broker config log.retention.ms`},
		{"no.such.key", "INVALID_CONFIG", `unknown broker config "no.such.key"; at run time a broker takes only the broker-wide defaults of topic configs, such as log.retention.ms`},
		{"log.retention.hour", "INVALID_CONFIG", `unknown broker config "log.retention.hour" (did you mean log.retention.bytes or log.retention.ms?)`},
	} {
		resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: c.key, Value: kadm.StringPtr("1")}})
		if err != nil || len(resps) != 1 {
			t.Fatalf("alter %s: %v %+v", c.key, err, resps)
		}
		if got := errName(resps[0].Err); got != c.code || !strings.HasPrefix(resps[0].ErrMessage, c.message) {
			t.Errorf("alter %s: %s %q, want %s %q", c.key, got, resps[0].ErrMessage, c.code, c.message)
		}
	}
	// The run-time keys still change.
	resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "log.retention.ms", Value: kadm.StringPtr("60000")}})
	if err != nil || resps[0].Err != nil {
		t.Fatalf("alter log.retention.ms: %v %+v", err, resps)
	}
}

// errName is a Kafka error's name, "" for none.
func errName(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	if err != nil {
		return err.Error()
	}
	return ""
}
