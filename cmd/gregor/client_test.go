package main

import (
	"net"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSeedBrokers(t *testing.T) {
	tests := []struct {
		name  string
		flag  []string
		env   string
		wants []string
	}{
		{"default", nil, "", []string{"127.0.0.1:9092"}},
		{"env", nil, "h1:1, h2:2 ,", []string{"h1:1", "h2:2"}},
		{"flag wins over env", []string{"f:1", " f:2"}, "h1:1", []string{"f:1", "f:2"}},
		{"blank env", nil, " , ", []string{"127.0.0.1:9092"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(brokersEnv, tt.env)
			o := clientOptions{brokers: tt.flag}
			if got := o.seedBrokers(); !reflect.DeepEqual(got, tt.wants) {
				t.Errorf("seedBrokers() = %q, want %q", got, tt.wants)
			}
		})
	}
}

// TestBrokersFlagAndEnv runs a verb of each kind against the node named by
// GREGOR_BROKERS or -b.
func TestBrokersFlagAndEnv(t *testing.T) {
	addr := startTestNode(t)
	t.Setenv(brokersEnv, " "+addr+" ")
	mustRun(t, "", "topic", "create", "env")
	mustRun(t, "from-env\n", "produce", "env", "-q")
	if inv := mustRun(t, "", "consume", "env"); inv.stdout != "from-env\n" {
		t.Errorf("consume with $%s printed %q", brokersEnv, inv.stdout)
	}
	inv := mustRun(t, "", "perf", "consume", "env", "--no-progress")
	if s := parsePerfSummary(t, inv.stdout); s.records != 1 {
		t.Errorf("perf consume with $%s read %d records, want 1", brokersEnv, s.records)
	}

	// -b wins over an environment that names a dead address.
	t.Setenv(brokersEnv, "127.0.0.1:1")
	if inv := mustRun(t, "", "topic", "list", "--brokers", addr); !strings.Contains(inv.stdout, "env ") {
		t.Errorf("topic list --brokers printed\n%s", inv.stdout)
	}
	if inv := mustRun(t, "", "consume", "env", "-b", addr); inv.stdout != "from-env\n" {
		t.Errorf("consume -b printed %q", inv.stdout)
	}
}

func TestUnreachableBroker(t *testing.T) {
	t.Setenv(brokersEnv, "")
	start := time.Now()
	mustFail(t, "", []string{"topic", "list", "-b", "127.0.0.1:1", "--timeout", "300ms"}, "list topics")
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("topic list with --timeout 300ms took %s", elapsed)
	}
	mustFail(t, "", []string{"topic", "list", "-b", "127.0.0.1:1", "--log-level", "loud"}, `--log-level "loud": want one of debug, info, warn, error`)

	// produce fails before its first record when no broker answers
	// (TestRefusedConnectionSaysWhereToPoint: at once, not after
	// --delivery-timeout; TestProduceTimeoutBelowMinISRSaysWhy: the
	// delivery timeout of a record a broker keeps refusing).
	inv := mustFail(t, "x\n", []string{"produce", "t", "-b", "127.0.0.1:1", "--delivery-timeout", "1s"},
		"no seed broker answered", "connection refused")
	if !strings.Contains(inv.stderr, "unable to open connection to broker") {
		t.Errorf("stderr does not show kgo's warning:\n%s", inv.stderr)
	}
	mustFail(t, "x\n", []string{"produce", "t", "-b", "127.0.0.1:1", "--delivery-timeout", "10ms"},
		"--delivery-timeout 10ms: want 0 (no limit) or at least 1s")
}

// TestDeadSeedBrokersDoNotFailGroupRequests runs group describe with most
// seed brokers down (as with a node of the cluster killed): franz-go sends
// its coordinator lookup to any seed and gives up when that one refuses the
// connection, so the verbs must leave refusing seeds out.
func TestDeadSeedBrokersDoNotFailGroupRequests(t *testing.T) {
	t.Setenv(brokersEnv, "")
	addr := startTestNode(t)
	mustRun(t, "a\nb\n", "produce", "orders", "-q", "-b", addr)
	mustRun(t, "", "group", "reset-offsets", "app", "--topic", "orders", "--to-earliest", "-b", addr)
	seeds := []string{addr}
	for range 6 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, l.Addr().String())
		_ = l.Close()
	}
	for i := range 3 {
		inv := mustRun(t, "", "group", "describe", "app", "-b", strings.Join(seeds, ","))
		if !strings.Contains(inv.stdout, "orders  0") {
			t.Errorf("describe %d printed:\n%s", i, inv.stdout)
		}
	}
	if got := liveSeeds(seeds, time.Second); !reflect.DeepEqual(got, []string{addr}) {
		t.Errorf("liveSeeds = %v, want [%s]", got, addr)
	}
	if got := liveSeeds(seeds[1:], time.Second); !reflect.DeepEqual(got, seeds[1:]) {
		t.Errorf("liveSeeds of dead seeds = %v, want them all", got)
	}
}
