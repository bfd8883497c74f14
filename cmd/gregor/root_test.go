package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"gregor/actors"
)

// TestUsageErrorsNameTheCommand runs commands with wrong arguments and
// flags: each must fail (a mistyped subcommand of a command that only
// groups others used to print that command's help and exit 0), name the
// command that refused them, and point at its usage and help.
func TestUsageErrorsNameTheCommand(t *testing.T) {
	for _, c := range []struct {
		args  []string
		wants []string
	}{
		{[]string{"topic", "delet", "orders"}, []string{`topic: unknown command "delet" (did you mean delete?)`, "usage: gregor topic COMMAND (see gregor topic --help)"}},
		{[]string{"cluster", "nosuch"}, []string{`cluster: unknown command "nosuch"`, "see gregor cluster --help"}},
		{[]string{"consume"}, []string{"consume: requires at least 1 arg(s)", "usage: gregor consume TOPIC... [flags] (see gregor consume --help)"}},
		{[]string{"topic", "create", "--nope", "x"}, []string{"topic create: unknown flag: --nope", "usage: gregor topic create TOPIC... [flags]"}},
		{[]string{"cluster", "up"}, []string{`cluster up: required flag(s) "dir" not set`, "see gregor cluster up --help"}},
		{[]string{"sim", "run", "--seed", "x"}, []string{`sim run: invalid argument "x" for "--seed" flag`, "see gregor sim run --help"}},
		// The root names no command twice ("gregor: gregor: ...").
		{[]string{"--nope"}, []string{"unknown flag: --nope\nusage: gregor COMMAND (see gregor --help)"}},
	} {
		mustFail(t, "", c.args, c.wants...)
	}
	if inv := mustFail(t, "", []string{"--nope"}); strings.Contains(inv.stderr+inv.err.Error(), "gregor: gregor:") {
		t.Errorf("the root's usage error names gregor twice: %v", inv.err)
	}
	if out := mustRun(t, "", "--version").stdout; !strings.HasPrefix(out, "gregor ") || !strings.Contains(out, "go1.") {
		t.Errorf("gregor --version prints %q", out)
	}
	// The group commands still print their help without a subcommand.
	if out := mustRun(t, "", "topic").stdout; !strings.Contains(out, "Usage:\n  gregor topic [command]\n") {
		t.Errorf("gregor topic prints:\n%s", out)
	}
}

// TestRefusedConnectionSaysWhereToPoint runs client verbs against a port
// nobody listens on: the error must say how to name a broker. The
// producers must say so at once, not when their records time out (a
// delivery timeout longer than the test's bound on a command).
func TestRefusedConnectionSaysWhereToPoint(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	for _, args := range [][]string{
		{"topic", "list"},
		{"produce", "orders", "--delivery-timeout", "10m"},
		{"perf", "produce", "orders", "--delivery-timeout", "10m", "-n", "10", "--no-progress"},
	} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			mustFail(t, "a record\n", append(args, "-b", addr), "connection refused", "no broker listens there", "--brokers or $"+brokersEnv)
		})
	}
}

// TestWrongPortSaysSoWithoutStackTrace points a client verb at an HTTP
// port (a metrics listener, say): the error says what the port answered,
// and kgo's error lines on stderr carry no Go stack trace.
func TestWrongPortSaysSoWithoutStackTrace(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			_ = c.Close()
		}
	}()
	inv := mustFail(t, "", []string{"topic", "list", "-b", l.Addr().String(), "--timeout", "3s"}, "HTTP", "is your broker port correct?",
		"an HTTP server answered there (a node's metrics.listener or debug.listener?): name a node's Kafka listener with --brokers or $"+brokersEnv)
	if strings.Contains(inv.stderr, "franz-go") || strings.Contains(inv.stderr, ".go:") {
		t.Errorf("stderr carries a stack trace:\n%s", inv.stderr)
	}
}

// TestRefusedMetadataAddressSaysSo bootstraps from a live node whose
// advertised address nothing listens on (advertised.listeners wrong, or
// the broker down): the error names that address as the metadata's, not
// "no broker listens there" of the seed that answered.
func TestRefusedMetadataAddressSaysSo(t *testing.T) {
	t.Setenv(brokersEnv, "")
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().(*net.TCPAddr)
	_ = dead.Close()
	cfg := actors.Config{
		NodeID: 1, ListenAddress: "127.0.0.1:0", AdvertisedHost: "127.0.0.1", AdvertisedPort: int32(deadAddr.Port),
		DataDir: t.TempDir(), AutoCreateTopics: true, NumPartitions: 1, DefaultReplicationFactor: 1, DeleteTopicEnable: true,
		CacheBytes: 4 << 20, StaticBrokerConfigs: map[string]string{},
	}
	node, err := actors.Start(context.Background(), cfg, zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)))
	if err != nil {
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = node.Stop(ctx)
	})
	for _, args := range [][]string{
		{"group", "list"},
		// A producer says so at once, not when its records time out.
		{"produce", "orders", "--delivery-timeout", "10m"},
	} {
		inv := mustFail(t, "a record\n", append(args, "-b", node.Addr().String()),
			"connection refused", "the cluster's metadata gives "+deadAddr.String()+" as a broker's address", "advertised.listeners")
		if strings.Contains(inv.err.Error(), "no broker listens there") {
			t.Errorf("%s: the error says no broker listens at the seed that answered:\n%v", args[0], inv.err)
		}
	}
}
