package actors

import (
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
