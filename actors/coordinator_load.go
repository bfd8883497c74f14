package actors

import "github.com/twmb/franz-go/pkg/kerr"

// partitionLoader is a coordinator core loading its partition's records.
type partitionLoader interface {
	Load(batches []byte, from int64) (int64, error)
}

// loadNext is what a coordinator does after one read of its partition.
type loadNext uint8

const (
	// loadReadMore: read again from the returned offset.
	loadReadMore loadNext = iota
	// loadRetry: the read failed; try again after loadRetryDelay.
	loadRetry
	// loadDone: the read returned nothing new; the core is loaded.
	loadDone
)

// loadStep feeds one read of a group or transaction coordinator's
// partition (read to the log end) to core and says what comes next: read
// on from the offset it returns, retry, or done. An error is a log the
// core cannot read (supervision restarts the coordinator, which loads
// again).
func loadStep(core partitionLoader, res fetchPartitionResult, offset int64) (int64, loadNext, error) {
	switch {
	case res.errorCode == kerr.OffsetOutOfRange.Code && res.logStartOffset > offset:
		return res.logStartOffset, loadReadMore, nil
	case res.errorCode != 0:
		return offset, loadRetry, nil
	}
	next := offset
	if res.records != nil {
		p, err := res.records.Bytes()
		res.records.Release()
		if err == nil {
			next, err = core.Load(p, offset)
		}
		if err != nil {
			return offset, loadRetry, err
		}
	}
	if next > offset {
		return next, loadReadMore, nil
	}
	return next, loadDone, nil
}
