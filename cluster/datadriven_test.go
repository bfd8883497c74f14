package cluster

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Helpers shared by the datadriven scripts of the cores.

// errName is a Kafka error code as Kafka names it (0 is "none").
func errName(code int16) string {
	if code == 0 {
		return "none"
	}
	if ke, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
		return ke.Message
	}
	return fmt.Sprintf("code %d", code)
}

// errCode is the code of a Kafka error name (errName's inverse).
func errCode(t testing.TB, td *datadriven.TestData, name string) int16 {
	for code := int16(-1); code < 200; code++ {
		if ke, ok := kerr.ErrorForCode(code).(*kerr.Error); ok && ke.Message == name {
			return code
		}
	}
	td.Fatalf(t, "unknown Kafka error %q", name)
	return 0
}

// isolationArg is read_committed when the command has the committed
// argument.
func isolationArg(td *datadriven.TestData) IsolationLevel {
	if td.HasArg("committed") {
		return ReadCommitted
	}
	return ReadUncommitted
}
