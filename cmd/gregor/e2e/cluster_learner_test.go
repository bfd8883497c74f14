package e2e

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A broker-only process (a learner of the metadata quorum) beside a
// three-node cluster goes on following the metadata when the active
// controller's node is killed: a topic created afterwards shows in its
// Metadata within seconds (it polled the dead leader for its metadata and
// kept the topics it had). Then gregor cluster up, restarting the killed
// node, sees the cluster formed with broker 4 beside its nodes (it waited
// for exactly 3 brokers and timed out). Last, the active controller's node
// paused while another takes over: broker 4 follows the new leader (it
// polled the old one, a follower once resumed, forever).
func TestBrokerOnlyNodeFollowsControllerKillAndPause(t *testing.T) {
	c := clusterUp(t, 3)
	base := freeBasePort(t, 1)
	b4 := exec.Command(gregorBin, c.brokerOnlyArgs(t, 4, base)...)
	var b4Log lockedBuffer
	b4.Stdout, b4.Stderr = &b4Log, &b4Log
	if err := b4.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = b4.Process.Signal(syscall.SIGTERM)
		_ = b4.Wait()
		if t.Failed() {
			t.Logf("broker 4 log:\n%s", tail(b4Log.String(), 40))
		}
	})
	var controller int32
	waitFor(t, 30*time.Second, "broker 4 in the cluster", func() bool {
		md, err := c.metadata(1)
		controller = -1
		if err == nil {
			controller = md.ControllerID
		}
		return err == nil && len(md.Brokers) == 4 && controller >= 1 && controller <= 3
	})
	c.killAll(t, int(controller))
	killed := time.Now()
	other := 1 + int(controller)%3
	waitFor(t, 30*time.Second, "a topic created after the kill", func() bool {
		out, err := gregor(t, "topic", "create", "-b", c.addr(other), "after-kill", "-p", "2", "-r", "3", "--if-not-exists", "--timeout", "5s")
		return err == nil && strings.Contains(out, "after-kill")
	})
	b4Addr := "127.0.0.1:" + strconv.Itoa(base)
	waitFor(t, 15*time.Second, "broker 4's metadata showing the new topic", func() bool {
		md, err := metadataOf(b4Addr, "after-kill")
		return err == nil && len(md.Topics) == 1 && md.Topics[0].ErrorCode == 0 && len(md.Topics[0].Partitions) == 2
	})
	t.Logf("broker 4 shows the topic %v after the controller's node was killed", time.Since(killed))
	out, err := gregor(t, "cluster", "up", "--dir", c.dir, "--timeout", "60s")
	if err != nil || !strings.Contains(out, "started node "+strconv.Itoa(int(controller))) {
		t.Fatalf("cluster up restarting the killed node beside broker 4: %v\n%s", err, out)
	}

	// The active controller's node paused (SIGSTOP) while another takes
	// over: when it runs again it is a follower and holds nothing for
	// broker 4, which must find the new leader rather than poll it.
	waitFor(t, 30*time.Second, "a controller", func() bool {
		md, err := c.metadata(other)
		controller = -1
		if err == nil {
			controller = md.ControllerID
		}
		return err == nil && controller >= 1 && controller <= 3
	})
	paused := c.pid(int(controller))
	resume := pauseProcess(t, paused)
	other = 1 + int(controller)%3
	waitFor(t, 30*time.Second, "a topic created while the controller's node is paused", func() bool {
		out, err := gregor(t, "topic", "create", "-b", c.addr(other), "after-pause", "-p", "2", "-r", "2", "--if-not-exists", "--timeout", "5s")
		return err == nil && strings.Contains(out, "after-pause")
	})
	resume()
	waitFor(t, 15*time.Second, "broker 4's metadata showing the topic created during the pause", func() bool {
		md, err := metadataOf(b4Addr, "after-pause")
		return err == nil && len(md.Topics) == 1 && md.Topics[0].ErrorCode == 0 && len(md.Topics[0].Partitions) == 2
	})
}

// metadataOf asks the broker at addr for the metadata of topics.
func metadataOf(addr string, topics ...string) (*kmsg.MetadataResponse, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	return req.RequestWith(ctx, cl)
}
