package actors

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/netio"
)

// raftAPIKey is gregor's private API for raft messages between the nodes of
// the metadata quorum, served on the CONTROLLER listener only (Kafka's keys
// are below 100; no Kafka client sends it).
const raftAPIKey = 10_000

// maxRaftMessagesPerFrame bounds the messages one raft frame carries.
const maxRaftMessagesPerFrame = 4096

// raftAPI declares the raft API to netio.
var raftAPI = netio.PrivateAPI{
	APIKey: raftAPIKey, MinVersion: 0, MaxVersion: 0, Name: "GregorRaft",
	NewRequest: func() kmsg.Request { return new(raftRequest) },
}

// raftRequest carries raft messages from one node to another. Its answer
// carries the messages the receiver holds for the sender: a node without a
// CONTROLLER listener (a broker following as a learner) gets the leader's
// messages that way, in answers to its own requests and polls.
//
//	ClusterID string (the sender's, "" while it knows none) | From int32 |
//	Messages [int32 count | count × bytes] (serialized raftpb.Message)
type raftRequest struct {
	Version   int16
	ClusterID string
	From      int32
	Messages  [][]byte
}

func (*raftRequest) Key() int16           { return raftAPIKey }
func (*raftRequest) MaxVersion() int16    { return 0 }
func (r *raftRequest) SetVersion(v int16) { r.Version = v }
func (r *raftRequest) GetVersion() int16  { return r.Version }
func (*raftRequest) IsFlexible() bool     { return false }
func (r *raftRequest) ResponseKind() kmsg.Response {
	return &raftResponse{Version: r.Version}
}

// AppendTo implements kmsg.Request.
func (r *raftRequest) AppendTo(dst []byte) []byte {
	dst = kbin.AppendString(dst, r.ClusterID)
	dst = kbin.AppendInt32(dst, r.From)
	return appendRaftMessages(dst, r.Messages)
}

// ReadFrom implements kmsg.Request.
func (r *raftRequest) ReadFrom(src []byte) error {
	b := kbin.Reader{Src: src}
	r.ClusterID = b.String()
	r.From = b.Int32()
	var err error
	if r.Messages, err = readRaftMessages(&b); err != nil {
		return err
	}
	return b.Complete()
}

// raftResponse answers a raftRequest.
//
//	ErrorCode int16 | Messages (as in the request)
type raftResponse struct {
	Version   int16
	ErrorCode int16
	Messages  [][]byte
}

func (*raftResponse) Key() int16           { return raftAPIKey }
func (*raftResponse) MaxVersion() int16    { return 0 }
func (r *raftResponse) SetVersion(v int16) { r.Version = v }
func (r *raftResponse) GetVersion() int16  { return r.Version }
func (*raftResponse) IsFlexible() bool     { return false }
func (r *raftResponse) RequestKind() kmsg.Request {
	return &raftRequest{Version: r.Version}
}

// AppendTo implements kmsg.Response.
func (r *raftResponse) AppendTo(dst []byte) []byte {
	dst = kbin.AppendInt16(dst, r.ErrorCode)
	return appendRaftMessages(dst, r.Messages)
}

// ReadFrom implements kmsg.Response.
func (r *raftResponse) ReadFrom(src []byte) error {
	b := kbin.Reader{Src: src}
	r.ErrorCode = b.Int16()
	var err error
	if r.Messages, err = readRaftMessages(&b); err != nil {
		return err
	}
	return b.Complete()
}

func appendRaftMessages(dst []byte, msgs [][]byte) []byte {
	dst = kbin.AppendInt32(dst, int32(len(msgs)))
	for _, m := range msgs {
		dst = kbin.AppendBytes(dst, m)
	}
	return dst
}

func readRaftMessages(b *kbin.Reader) ([][]byte, error) {
	n := b.Int32()
	if n < 0 || n > maxRaftMessagesPerFrame {
		return nil, fmt.Errorf("raft frame with %d messages", n)
	}
	msgs := make([][]byte, 0, n)
	for range n {
		msgs = append(msgs, b.Bytes())
	}
	return msgs, nil
}
