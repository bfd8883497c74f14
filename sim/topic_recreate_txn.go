package sim

// Idempotent and transactional producers write the re-created topic too
// (pickPartition). When an id of it is deleted:
//
//   - the new topic's partitions hold no producer state, as after a loss
//     of their records: a producer's next batch there is taken at any
//     sequence, and a later batch of its pipeline may then be refused out
//     of order (out_of_order.go sorts it as lost: forgetTopic moves the
//     partitions' World.stateLossEra on);
//   - a transaction's writes acknowledged by the deleted id are gone with
//     it: a committed transaction is not owed them (Q10), as Kafka skips
//     the markers of a deleted partition; its writes to the new topic are
//     owed, as are its markers there (the coordinator names partitions by
//     topic name, as Kafka's does);
//   - the idempotent producers' sends of the deleted id left the history
//     with the topic (forgetTopic).

// recreateMaxPartitions bounds the partitions of recreateTopic whose
// producer state a re-creation drops (it is created with two; the
// operator's CreatePartitions may add some).
const recreateMaxPartitions = 64

// recreatedEra is, for a partition of recreateTopic, how many of its ids
// were deleted so far (0 for another topic).
func (w *World) recreatedEra(tp tpKey) int {
	if w.recreated == nil || tp.topic != recreateTopic {
		return 0
	}
	return w.recreated.era
}

// recreatedGone says a write was sent to an id of recreateTopic deleted
// since.
func (w *World) recreatedGone(s *sendOp) bool {
	return w.recreated != nil && s.tp.topic == recreateTopic && s.recreatedEra != w.recreated.era
}
