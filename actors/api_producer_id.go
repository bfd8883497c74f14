package actors

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/netio"
)

// handleProducer serves the producer APIs of the partition side
// (InitProducerId, WriteTxnMarkers, DescribeProducers); it reports false
// for any other request.
func (r *router) handleProducer(req *netio.Request, respond func(kmsg.Response)) bool {
	switch body := req.Body.(type) {
	case *kmsg.InitProducerIDRequest:
		r.initProducerID(body, respond)
	case *kmsg.WriteTxnMarkersRequest:
		r.writeTxnMarkers(body, respond)
	case *kmsg.DescribeProducersRequest:
		r.describeProducers(body, respond)
	default:
		return false
	}
	return true
}

// initProducerID serves InitProducerId (API 22). Without a transactional id
// the producer is idempotent only: it gets a fresh producer id of the
// node's block at epoch 0 (an id and epoch it may send are ignored, as
// Kafka's coordinator does). A transactional id goes to its transaction
// coordinator (api_txn.go).
func (r *router) initProducerID(body *kmsg.InitProducerIDRequest, respond func(kmsg.Response)) {
	resp := body.ResponseKind().(*kmsg.InitProducerIDResponse)
	fail := func(code int16) {
		resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = code, -1, -1
		respond(resp)
	}
	switch {
	case body.TransactionalID != nil && *body.TransactionalID == "":
		fail(kerr.InvalidRequest.Code)
		return
	case body.TransactionalID != nil:
		r.initTxnProducerID(body, respond)
		return
	}
	r.node.allocateProducerID(func(id int64, err error) {
		if err != nil {
			// The controller is away or busy: the client retries.
			if !errors.Is(err, errProducerIDsBusy) {
				r.logger.Warn("no producer id for InitProducerId", zap.Error(err))
			}
			fail(kerr.CoordinatorLoadInProgress.Code)
			return
		}
		resp.ProducerID, resp.ProducerEpoch = id, 0
		respond(resp)
	})
}
