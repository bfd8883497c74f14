package actors

import (
	"net"

	"gregor/cluster"
)

// Addr is the address the client listener is bound to (nil on a
// controller-only node).
func (n *Node) Addr() net.Addr {
	if n.brokerListener == nil {
		return nil
	}
	return n.brokerListener.Addr()
}

// ControllerAddr is the address the CONTROLLER listener is bound to, nil
// when the node has none.
func (n *Node) ControllerAddr() net.Addr {
	if n.controllerServer == nil {
		return nil
	}
	return n.controllerServer.Addr()
}

// ClusterID is the cluster's id, "" until this node learned it (from its
// meta.properties or the metadata log).
func (n *Node) ClusterID() string {
	if p := n.clusterID.Load(); p != nil {
		return *p
	}
	return ""
}

func (n *Node) setClusterID(id string) { n.clusterID.Store(&id) }

// advertised is the host and port clients are told to connect to.
func (n *Node) advertised() (string, int32) {
	tcp, _ := n.Addr().(*net.TCPAddr)
	if tcp == nil {
		return cluster.AdvertisedEndpoint(n.cfg.AdvertisedHost, n.cfg.AdvertisedPort, "", 0)
	}
	return cluster.AdvertisedEndpoint(n.cfg.AdvertisedHost, n.cfg.AdvertisedPort, tcp.IP.String(), int32(tcp.Port))
}
