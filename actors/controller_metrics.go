package actors

import (
	"github.com/prometheus/client_golang/prometheus"

	"gregor/cluster"
	"gregor/cluster/quorum"
)

// clusterMetrics are the node's gauges of the metadata path: whether its
// controller is active, its place in the metadata quorum, and its broker's
// state with the controller.
type clusterMetrics struct {
	controllerActive prometheus.Gauge
	quorumRole       *prometheus.GaugeVec
	quorumEpoch      prometheus.Gauge
	quorumLeaderID   prometheus.Gauge
	quorumCommit     prometheus.Gauge
	brokerFenced     prometheus.Gauge
	brokerStateGauge *prometheus.GaugeVec
}

var quorumRoles = []quorum.Role{quorum.RoleLeader, quorum.RoleCandidate, quorum.RoleFollower, quorum.RoleObserver}

var brokerStates = []cluster.BrokerState{cluster.BrokerStarting, cluster.BrokerRecovery, cluster.BrokerRunning,
	cluster.BrokerPendingControlledShutdown, cluster.BrokerShuttingDown, cluster.BrokerFailed}

func newClusterMetrics(reg *prometheus.Registry) *clusterMetrics {
	m := &clusterMetrics{
		controllerActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gregor_controller_active", Help: "1 while this node's controller is the active controller."}),
		quorumRole: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gregor_metadata_quorum_role", Help: "1 for this node's role in the metadata quorum (leader, candidate, follower, observer)."},
			[]string{"role"}),
		quorumEpoch: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gregor_metadata_quorum_leader_epoch", Help: "The metadata quorum's leader epoch (raft term) as this node knows it."}),
		quorumLeaderID: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gregor_metadata_quorum_leader_id", Help: "The metadata quorum's leader as this node knows it, -1 when unknown."}),
		quorumCommit: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gregor_metadata_quorum_high_watermark", Help: "The metadata log's high watermark (commit index plus one) as this node knows it."}),
		brokerFenced: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gregor_broker_fenced", Help: "1 while the controller keeps this broker fenced."}),
		brokerStateGauge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gregor_broker_state", Help: "1 for this broker's state with the controller."}, []string{"state"}),
	}
	m.quorumLeaderID.Set(-1)
	m.brokerFenced.Set(1)
	reg.MustRegister(m.controllerActive, m.quorumRole, m.quorumEpoch, m.quorumLeaderID, m.quorumCommit, m.brokerFenced, m.brokerStateGauge)
	return m
}

// quorumLeader records the quorum's state after a change of leadership.
func (m *clusterMetrics) quorumLeader(st quorum.Status) {
	for _, r := range quorumRoles {
		v := 0.0
		if r == st.Role {
			v = 1
		}
		m.quorumRole.WithLabelValues(string(r)).Set(v)
	}
	m.quorumEpoch.Set(float64(st.LeaderEpoch))
	m.quorumLeaderID.Set(float64(st.LeaderID))
	m.quorumCommit.Set(float64(st.HighWatermark))
}

// brokerState records the broker's state.
func (m *clusterMetrics) brokerState(s cluster.BrokerState) {
	for _, x := range brokerStates {
		v := 0.0
		if x == s {
			v = 1
		}
		m.brokerStateGauge.WithLabelValues(x.String()).Set(v)
	}
	fenced := 1.0
	if s == cluster.BrokerRunning || s == cluster.BrokerPendingControlledShutdown {
		fenced = 0
	}
	m.brokerFenced.Set(fenced)
}
