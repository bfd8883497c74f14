package groups

import (
	"testing"

	"github.com/cockroachdb/datadriven"
)

func consumerCommand(t *testing.T, h *harness, td *datadriven.TestData, id RequestID) {
	td.Fatalf(t, "unknown command %q", td.Cmd)
}

func describeConsumerRecord(t *testing.T, h *harness, r Record) string { return "consumer record" }
func describeConsumerReply(h *harness, r Reply) string                 { return "consumer reply" }
func describeConsumerState(h *harness, g *group) string                { return "consumer group\n" }
