package actors

import (
	"errors"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/cluster/quorum"
)

// What the quorum actor does with what the quorum committed: the image,
// the cluster id, the learners, the snapshots.

// apply applies a Ready's snapshot and committed batches to the image.
func (a *quorumActor) apply(rd quorum.Ready) (bool, error) {
	changed := false
	if s := rd.Snapshot; s != nil {
		img, err := cluster.ImageFromSnapshot(s.Batch.Epoch, s.Batch.Records)
		if err != nil {
			return false, fmt.Errorf("metadata snapshot at offset %d: %w", s.Offset, err)
		}
		a.image, changed = img, true
	}
	for _, b := range rd.Committed {
		if b.Batch.Epoch != a.image.Epoch {
			a.logger.Warn("metadata batch proposed at another image epoch", zap.Int64("offset", b.Offset),
				zap.Int64("batch_epoch", b.Batch.Epoch), zap.Int64("image_epoch", a.image.Epoch))
		}
		next, err := a.image.Apply(b.Batch.Records...)
		if err != nil {
			return false, fmt.Errorf("metadata log entry %d does not apply: %w", b.Offset, err)
		}
		logCommitted(a.logger, a.image, next, b.Batch.Records)
		a.image, changed = next, true
	}
	return changed, nil
}

// settle forgets the settled proposals and returns the committed ones, in
// order. A proposal lost with the leadership needs no word: the controller
// resigns with the leadership, which answers its requests.
func (a *quorumActor) settle(outcomes []quorum.ProposalOutcome) []proposalRef {
	var committed []proposalRef
	for _, o := range outcomes {
		ref, ok := a.proposals[o.ID]
		if !ok {
			continue // a membership change
		}
		delete(a.proposals, o.ID)
		if o.Fate == quorum.ProposalCommitted {
			committed = append(committed, ref)
		}
	}
	return committed
}

// imageChanged records a newly named cluster and hands the image on.
func (a *quorumActor) imageChanged(ctx actor.Context) {
	if id := a.image.ClusterID(); id != "" && id != a.node.ClusterID() {
		if known := a.node.ClusterID(); known != "" {
			a.fail(ctx, fmt.Errorf("%s names cluster %s, but the metadata log is cluster %s's", metaPropertiesFile, known, id))
			return
		}
		if err := writeClusterID(a.node.cfg, id); err != nil {
			a.fail(ctx, err)
			return
		}
		a.node.setClusterID(id)
		a.logger.Info("joined cluster", zap.String("cluster_id", id))
	}
	ctx.Request(a.node.replicaManager, &metadataImageApplied{image: a.image})
}

// addLearners proposes, on the active leader, each registered broker that
// is not in the quorum as a learner, one membership change at a time.
func (a *quorumActor) addLearners() {
	if a.failed || !a.core.Leadership().Active {
		return
	}
	var brokers []int32
	for b := range a.image.Brokers() {
		brokers = append(brokers, b.ID)
	}
	missing := a.core.Membership().MissingLearners(brokers)
	if len(missing) == 0 {
		return
	}
	if _, err := a.core.AddLearner(missing[0]); err == nil {
		a.logger.Info("adding a broker to the metadata quorum as a learner", zap.Int32("broker", missing[0]))
	} else if !errors.Is(err, quorum.ErrMembershipChangePending) {
		a.logger.Warn("learner not added", zap.Int32("broker", missing[0]), zap.Error(err))
	}
}

// snapshot makes the image at the applied offset the start of the log.
func (a *quorumActor) snapshot() {
	data := cluster.AppendMetadataBatch(nil, cluster.MetadataBatch{Snapshot: true, Epoch: a.image.Epoch, Records: a.image.SnapshotRecords()})
	snap, err := a.core.Snapshot(data)
	if err == nil {
		err = a.log.Compact(snap)
	}
	if err != nil {
		a.logger.Warn("metadata snapshot not taken", zap.Error(err))
		return
	}
	a.logger.Info("metadata snapshot taken", zap.Int64("offset", a.core.AppliedOffset()), zap.Int("bytes", len(data)))
}

func (a *quorumActor) removeMigrated() {
	if err := removeFiles(a.node.cfg.FS, a.node.cfg.DataDir, a.migrated); err != nil {
		a.logger.Warn("single-node metadata files not removed", zap.Error(err))
	} else {
		a.logger.Info("single-node metadata moved into the metadata log", zap.Strings("removed", a.migrated))
	}
	a.migrated = nil
}
