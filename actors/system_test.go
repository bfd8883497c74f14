package actors

import (
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// panickingActor panics on a string message.
type panickingActor struct{}

func (panickingActor) Receive(ctx actor.Context) {
	if s, ok := ctx.Message().(string); ok {
		var m map[string]*int
		_ = *m[s] // a nil pointer, as a broken invariant would
	}
}

// A panic in a metadata actor reaches its supervisor with its reason only;
// the log keeps where it happened.
func TestLogPanicStackKeepsWhereAnActorPanicked(t *testing.T) {
	core, logs := observer.New(zap.ErrorLevel)
	system := newActorSystem(zap.NewNop())
	failed := make(chan any, 1)
	guard := actor.WithGuardian(actor.NewOneForOneStrategy(0, time.Second, func(reason any) actor.Directive {
		failed <- reason
		return actor.StopDirective
	}))
	pid, err := system.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return panickingActor{} },
		guard, actor.WithReceiverMiddleware(logPanicStack(zap.New(core)))), "panicking")
	if err != nil {
		t.Fatal(err)
	}
	system.Root.Send(pid, "boom")
	select {
	case reason := <-failed:
		if !strings.Contains(reason.(error).Error(), "nil pointer") {
			t.Fatalf("supervisor got %v", reason)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the supervisor never heard of the panic")
	}
	entries := logs.FilterMessage("actor panicked").All()
	if len(entries) != 1 {
		t.Fatalf("%d panic entries logged, want 1", len(entries))
	}
	stack := entries[0].ContextMap()["stack"].(string)
	if !strings.Contains(stack, "panickingActor.Receive") {
		t.Errorf("the logged stack does not name the panicking Receive:\n%s", stack)
	}
}
