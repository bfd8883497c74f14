package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/zap"

	"gregor/cluster"
	"gregor/netio"
)

// voterFeaturesInterval is how often the active controller asks the
// controller-only voters for the feature ranges they support, so that one
// restarted on another build is heard again.
const voterFeaturesInterval = 10 * time.Second

// askVoters wakes the controller to ask the voters for their features.
type askVoters struct{}

// voterFeatures is a voter's answer: the feature ranges its CONTROLLER
// listener's ApiVersions told.
type voterFeatures struct {
	voter    int32
	features []cluster.FeatureRange
}

// askVoterFeatures asks each voter the core needs to hear from
// (Controller.VotersToAsk) for ApiVersions on its CONTROLLER listener,
// while this controller is active, and asks again after
// voterFeaturesInterval. The answers come back as voterFeatures messages;
// a voter that does not answer is asked at the next round.
func (c *controllerActor) askVoterFeatures(ctx actor.Context) {
	if !c.core.Active() {
		return
	}
	self, root := ctx.Self(), c.node.system.Root
	if c.askTimer != nil {
		c.askTimer.Stop()
	}
	c.askTimer = time.AfterFunc(voterFeaturesInterval, func() { root.Send(self, &askVoters{}) })
	for _, v := range c.core.VotersToAsk() {
		client := c.node.controllers.client(v)
		if client == nil {
			continue
		}
		timeout := time.Duration(c.node.cfg.ControllerRequestTimeoutMs) * time.Millisecond
		req := kmsg.NewPtrApiVersionsRequest()
		req.ClientSoftwareName, req.ClientSoftwareVersion = "gregor-controller", "1"
		err := client.Send(req, timeout, func(r *netio.Response, err error) {
			if err != nil {
				return
			}
			resp, ok := r.Body.(*kmsg.ApiVersionsResponse)
			if !ok || resp.ErrorCode != 0 {
				return
			}
			var fs []cluster.FeatureRange
			for _, f := range resp.SupportedFeatures {
				fs = append(fs, cluster.FeatureRange{Name: f.Name, MinVersion: f.MinVersion, MaxVersion: f.MaxVersion})
			}
			root.Send(self, &voterFeatures{voter: v, features: fs})
		})
		if err != nil {
			c.logger.Debug("voter not asked for its features", zap.Int32("voter", v), zap.Error(err))
		}
	}
}

// controllerListenerFeatures is the CONTROLLER listener's netio Features
// source: the ranges this build supports, which the active controller
// reads before it finalizes a level (Controller.VoterFeatures). It tells
// no finalized levels (a controller-only node serves no clients).
func controllerListenerFeatures() *netio.Features {
	f := &netio.Features{FinalizedEpoch: -1}
	for _, s := range cluster.SupportedFeatures() {
		f.Supported = append(f.Supported, netio.SupportedFeature{Name: s.Name, MinVersion: s.MinVersion, MaxVersion: s.MaxVersion})
	}
	return f
}
