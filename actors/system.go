package actors

import (
	"fmt"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"
	"go.uber.org/zap/exp/zapslog"
	"go.uber.org/zap/zapcore"
)

// newActorSystem starts a protoactor system whose own logging goes to zap at
// warn level and above (its info lines are noise for an operator).
func newActorSystem(logger *zap.Logger) *actor.ActorSystem {
	core, err := zapcore.NewIncreaseLevelCore(logger.Named("protoactor").Core(), zap.WarnLevel)
	if err != nil {
		// The logger is already above warn level; keep it as it is.
		core = logger.Named("protoactor").Core()
	}
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(zapslog.NewHandler(core))
	}))
}

// logPanicStack logs the stack of a panic in an actor's Receive, then lets
// the panic go on to the actor's supervisor, which learns its reason only.
func logPanicStack(logger *zap.Logger) actor.ReceiverMiddleware {
	return func(next actor.ReceiverFunc) actor.ReceiverFunc {
		return func(c actor.ReceiverContext, env *actor.MessageEnvelope) {
			defer func() {
				if r := recover(); r != nil {
					logger.Error("actor panicked", zap.String("actor", c.Self().Id), zap.Any("reason", r),
						zap.String("message", fmt.Sprintf("%T", env.Message)), zap.Stack("stack"))
					panic(r)
				}
			}()
			next(c, env)
		}
	}
}
