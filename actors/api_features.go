package actors

import (
	"sync/atomic"

	"gregor/cluster"
	"gregor/netio"
)

// featureCache holds the ApiVersions features of the last image asked
// about, so an ApiVersions answer builds nothing while the image stays.
type featureCache struct {
	last atomic.Pointer[cachedFeatures]
}

type cachedFeatures struct {
	image    *cluster.MetadataImage
	features *netio.Features
}

// apiFeatures is the client listener's netio Features source: the ranges
// this build supports and the levels the node's metadata image holds
// finalized, at the image's last offset (none before the node read any
// metadata).
func (n *Node) apiFeatures() *netio.Features {
	img := n.routes.load().image
	if c := n.features.last.Load(); c != nil && c.image == img {
		return c.features
	}
	f := &netio.Features{FinalizedEpoch: -1}
	for _, s := range cluster.SupportedFeatures() {
		f.Supported = append(f.Supported, netio.SupportedFeature{Name: s.Name, MinVersion: s.MinVersion, MaxVersion: s.MaxVersion})
	}
	if img != nil && img.Epoch > 0 {
		f.FinalizedEpoch = img.Epoch - 1
		for _, l := range img.FinalizedFeatures() {
			f.Finalized = append(f.Finalized, netio.FinalizedFeature{Name: l.Name, Level: l.Level})
		}
	}
	n.features.last.Store(&cachedFeatures{image: img, features: f})
	return f
}
