package actors

import (
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/cluster"
)

// logCommitted logs what committed records changed (every node logs what
// it applies).
func logCommitted(logger *zap.Logger, before, after *cluster.MetadataImage, recs []cluster.MetadataRecord) {
	created, grown, configured := map[cluster.TopicID]bool{}, map[cluster.TopicID]bool{}, map[string]bool{}
	for _, rec := range recs {
		switch r := rec.(type) {
		case cluster.TopicRecord:
			created[r.TopicID] = true
			t, _ := after.TopicByID(r.TopicID)
			if t != nil {
				logger.Info("topic created", zap.String("topic", t.Name), zap.Int32("partitions", t.PartitionCount()), zap.String("topic_id", t.ID.String()))
			}
		case cluster.PartitionRecord:
			if t, ok := after.TopicByID(r.TopicID); ok && !created[r.TopicID] && !grown[r.TopicID] {
				grown[r.TopicID] = true
				logger.Info("partitions created", zap.String("topic", t.Name), zap.Int32("partitions", t.PartitionCount()))
			}
		case cluster.RegisterBrokerRecord:
			logger.Info("broker registered", zap.Int32("broker", r.BrokerID), zap.Int64("broker_epoch", r.BrokerEpoch),
				zap.Stringer("incarnation", r.IncarnationID))
		case cluster.BrokerRegistrationChangeRecord:
			switch {
			case r.Fenced == cluster.FenceBroker:
				logger.Info("broker fenced", zap.Int32("broker", r.BrokerID))
			case r.Fenced == cluster.UnfenceBroker:
				logger.Info("broker unfenced", zap.Int32("broker", r.BrokerID))
			case r.InControlledShutdown:
				logger.Info("broker in controlled shutdown", zap.Int32("broker", r.BrokerID))
			}
		case cluster.UnregisterBrokerRecord:
			logger.Info("broker unregistered", zap.Int32("broker", r.BrokerID))
		case cluster.RemoveTopicRecord:
			if t, ok := before.TopicByID(r.TopicID); ok {
				logger.Info("topic deleted", zap.String("topic", t.Name))
			}
		case cluster.ConfigRecord:
			if key := r.ResourceName; !configured[key] && !created[topicIDOf(after, key)] {
				configured[key] = true
				if r.ResourceType == kmsg.ConfigResourceTypeBroker {
					logger.Info("broker configs changed", zap.String("broker", key)) // "": every broker's default
				} else {
					logger.Info("topic configs changed", zap.String("topic", key))
				}
			}
		}
	}
}

func topicIDOf(m *cluster.MetadataImage, name string) cluster.TopicID {
	if t, ok := m.Topic(name); ok {
		return t.ID
	}
	return cluster.TopicID{}
}
