package main

import (
	"fmt"
	"net"
	"reflect"
	"syscall"
	"testing"

	"github.com/spf13/cobra"
)

// TestSeedWithoutPortIsTheSeedKgoDials checks that a seed named without a
// port (-b 127.0.0.1) counts as the 127.0.0.1:9092 kgo dials: a refusal
// there says no broker listens at the seed, not that the cluster's
// metadata named a dead broker.
func TestSeedWithoutPortIsTheSeedKgoDials(t *testing.T) {
	t.Setenv(brokersEnv, "")
	got := seedList([]string{"127.0.0.1", "[::1]", "broker-a:29092", " ", "broker-b"})
	want := []string{"127.0.0.1:9092", "[::1]:9092", "broker-a:29092", "broker-b:9092"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("seedList = %q, want %q", got, want)
	}

	cmd := &cobra.Command{Use: "list"}
	cmd.Flags().StringSlice("brokers", nil, "")
	if err := cmd.Flags().Set("brokers", "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	refused := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9092}, Err: syscall.ECONNREFUSED}
	if addr, ok := refusedNonSeed(fmt.Errorf("list topics: %w", refused), cmd); ok {
		t.Errorf("a refusal at the seed 127.0.0.1 (port 9092) is taken for the metadata's address %s", addr)
	}
	other := &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9093}, Err: syscall.ECONNREFUSED}
	if _, ok := refusedNonSeed(fmt.Errorf("list topics: %w", other), cmd); !ok {
		t.Errorf("a refusal at 127.0.0.1:9093, no seed, is not taken for the metadata's address")
	}
}
