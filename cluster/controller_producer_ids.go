package cluster

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ProducerIDBlockSize is how many producer ids one AllocateProducerIDs hands
// a broker (Kafka's block size).
const ProducerIDBlockSize = 1000

// producerIdsRecordKey is Kafka's ProducerIdsRecord api key.
const producerIdsRecordKey uint16 = 15

// ProducerIdsRecord hands the block of producer ids that starts at the
// image's next producer id to a broker, and moves the next producer id to
// NextProducerID (the block's end). Ids below it are never handed out
// again, so a block survives a controller failover: the new controller
// reads where the next block starts from the committed image.
type ProducerIdsRecord struct {
	BrokerID    int32
	BrokerEpoch int64
	// NextProducerID is the first id after the block.
	NextProducerID int64
}

func (ProducerIdsRecord) apiKey() uint16 { return producerIdsRecordKey }

// String describes the record for logs and test scripts.
func (r ProducerIdsRecord) String() string {
	return fmt.Sprintf("ProducerIdsRecord broker=%d broker_epoch=%d next_producer_id=%d", r.BrokerID, r.BrokerEpoch, r.NextProducerID)
}

// NextProducerID is the first producer id no block holds yet.
func (m *MetadataImage) NextProducerID() int64 { return m.nextProducerID }

// applyProducerIds moves the image's next producer id; it never goes back.
func (d *imageDelta) applyProducerIds(r ProducerIdsRecord) error {
	if r.NextProducerID <= d.next.nextProducerID {
		return fmt.Errorf("next producer id %d is not past %d", r.NextProducerID, d.next.nextProducerID)
	}
	d.next.nextProducerID = r.NextProducerID
	return nil
}

// allocateProducerIDs hands a broker the next block of producer ids
// (AllocateProducerIDs, API 67): a ProducerIdsRecord, answered once it is
// committed. The broker must be registered under the epoch it sends, or be
// one of the static brokers (a single node before its registration).
func (c *Controller) allocateProducerIDs(r *kmsg.AllocateProducerIDsRequest) decision {
	resp := r.ResponseKind().(*kmsg.AllocateProducerIDsResponse)
	w := c.working
	b, registered := w.Broker(r.BrokerID)
	switch {
	case registered && b.Epoch != r.BrokerEpoch:
		resp.ErrorCode = kerr.StaleBrokerEpoch.Code
		return decision{response: resp, reason: fmt.Sprintf("AllocateProducerIDs from broker %d with broker epoch %d, which is not its registration's", r.BrokerID, r.BrokerEpoch)}
	case !registered && !c.isStatic(r.BrokerID):
		resp.ErrorCode = kerr.BrokerIDNotRegistered.Code
		return decision{response: resp, reason: fmt.Sprintf("AllocateProducerIDs from broker %d, which is not registered", r.BrokerID)}
	}
	start := w.NextProducerID()
	if start > 1<<63-1-ProducerIDBlockSize {
		resp.ErrorCode = kerr.UnknownServerError.Code
		return decision{response: resp, reason: "producer ids are exhausted"}
	}
	resp.ProducerIDStart, resp.ProducerIDLen = start, ProducerIDBlockSize
	rec := ProducerIdsRecord{BrokerID: r.BrokerID, BrokerEpoch: r.BrokerEpoch, NextProducerID: start + ProducerIDBlockSize}
	return decision{records: []MetadataRecord{rec}, response: resp}
}

// isStatic says broker holds replicas without a registration.
func (c *Controller) isStatic(broker int32) bool {
	_, ok := slices.BinarySearch(c.static, broker)
	return ok
}
