package cluster

import (
	"encoding/json"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Before metadata records had a durable form, a single node kept its image
// in one JSON file. Version 1 had a partition count per topic (the node held
// and led every partition); version 2 listed each topic's partitions. Both
// are read so an existing data directory starts with all its topics.

// legacyPartition is a partition in a version 2 snapshot.
type legacyPartition struct {
	Partition      int32   `json:"Partition"`
	Replicas       []int32 `json:"Replicas"`
	ISR            []int32 `json:"ISR"`
	Leader         int32   `json:"Leader"`
	LeaderEpoch    int32   `json:"LeaderEpoch"`
	PartitionEpoch int32   `json:"PartitionEpoch"`
}

// legacyTopic is a topic in a version 1 (Partitions is a count) or version 2
// (Partitions is a list) snapshot.
type legacyTopic struct {
	Name              string            `json:"Name"`
	ID                TopicID           `json:"ID"`
	Partitions        json.RawMessage   `json:"Partitions"`
	ReplicationFactor int16             `json:"ReplicationFactor"`
	Configs           map[string]string `json:"Configs"`
}

type legacySnapshot struct {
	Version       int               `json:"version"`
	Epoch         int64             `json:"epoch"`
	Topics        []legacyTopic     `json:"topics"`
	BrokerConfigs map[string]string `json:"broker_configs,omitempty"`
}

// UnmarshalLegacySnapshot decodes a version 1 or 2 JSON snapshot. A version 1
// topic is read as every partition held and led by v1NodeID at leader epoch
// 0.
func UnmarshalLegacySnapshot(p []byte, v1NodeID int32) (*MetadataImage, error) {
	var s legacySnapshot
	if err := json.Unmarshal(p, &s); err != nil {
		return nil, fmt.Errorf("decode metadata snapshot: %w", err)
	}
	if s.Version != 1 && s.Version != 2 {
		return nil, fmt.Errorf("metadata snapshot version %d, this build reads versions 1 and 2", s.Version)
	}
	var recs []MetadataRecord
	for _, t := range s.Topics {
		var parts []PartitionImage
		if s.Version == 1 {
			var count int32
			if err := json.Unmarshal(t.Partitions, &count); err != nil {
				return nil, fmt.Errorf("decode metadata snapshot version 1, topic %q: %w", t.Name, err)
			}
			parts = SingleNodePartitions(0, count, v1NodeID)
		} else {
			var list []legacyPartition
			if err := json.Unmarshal(t.Partitions, &list); err != nil {
				return nil, fmt.Errorf("decode metadata snapshot version 2, topic %q: %w", t.Name, err)
			}
			for _, lp := range list {
				parts = append(parts, PartitionImage{Partition: lp.Partition, Replicas: lp.Replicas, ISR: lp.ISR,
					Leader: lp.Leader, LeaderEpoch: lp.LeaderEpoch, PartitionEpoch: lp.PartitionEpoch})
			}
		}
		recs = append(recs, TopicRecord{Name: t.Name, TopicID: t.ID})
		recs = append(recs, configRecords(kmsg.ConfigResourceTypeTopic, t.Name, t.Configs)...)
		for _, p := range parts {
			recs = append(recs, PartitionRecord{TopicID: t.ID, Partition: p.Partition, Replicas: p.Replicas, ISR: p.ISR,
				Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch})
		}
	}
	recs = append(recs, configRecords(kmsg.ConfigResourceTypeBroker, "", s.BrokerConfigs)...)
	return ImageFromSnapshot(s.Epoch, recs)
}
