package main

import (
	"strings"
	"testing"

	"gregor/actors"
)

// issueCommandLine is node 1 of the three-node command line of issue 9.
var issueCommandLine = []string{
	"node.id=1", "process.roles=broker,controller",
	"listeners=PLAINTEXT://127.0.0.1:29901,CONTROLLER://127.0.0.1:30001",
	"controller.quorum.voters=1@127.0.0.1:30001,2@127.0.0.1:30002,3@127.0.0.1:30003",
	"gossip.listener=127.0.0.1:30101", "gossip.seeds=127.0.0.1:30101,127.0.0.1:30102,127.0.0.1:30103",
	"log.dirs=/tmp/gregor-1", "metrics.listener=127.0.0.1:30201",
}

// The issue's command line configures a voter with a CONTROLLER listener
// (PLAINTEXT though the protocol map does not name it), gossip, and the
// client listener alone advertised.
func TestClusterCommandLineConfig(t *testing.T) {
	cfg, _, err := buildFromOverrides(t, issueCommandLine...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := nodeConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got.ListenAddress != "127.0.0.1:29901" || got.ControllerListenAddress != "127.0.0.1:30001" || len(got.QuorumVoters) != 3 ||
		got.QuorumVoters[2] != (actors.QuorumVoter{NodeID: 3, Address: "127.0.0.1:30003"}) || got.GossipListener != "127.0.0.1:30101" ||
		len(got.GossipSeeds) != 3 || got.AdvertisedPort != 29901 || !got.Roles.Broker || !got.Roles.Controller {
		t.Fatalf("node config %+v", got)
	}
	if adv := cfg.setting("advertised.listeners").Value; adv != "PLAINTEXT://127.0.0.1:29901" {
		t.Fatalf("advertised.listeners %q", adv)
	}
}

func TestClusterConfigRefused(t *testing.T) {
	for _, tt := range []struct {
		settings []string
		want     string
	}{
		{[]string{"controller.quorum.voters=1@127.0.0.1"}, "id@host:port"},
		{[]string{"controller.quorum.voters=1@127.0.0.1:1,1@127.0.0.1:2"}, "each id once"},
		{[]string{"process.roles=broker,zookeeper"}, "broker, controller"},
		{[]string{"gossip.listener=127.0.0.1"}, "host:port"},
	} {
		if _, _, err := buildFromOverrides(t, tt.settings...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want an error with %q", tt.settings, err, tt.want)
		}
	}
	cfg, _, err := buildFromOverrides(t, "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
		"controller.quorum.voters=1@127.0.0.1:9999")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nodeConfig(cfg); err == nil || !strings.Contains(err.Error(), "places node 1 at 127.0.0.1:9999") {
		t.Errorf("a voter's listener elsewhere than the voters say: %v", err)
	}
}
