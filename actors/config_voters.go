package actors

// voterIDs are the quorum's voters: controller.quorum.voters, or this node
// alone.
func (c Config) voterIDs() []int32 {
	if len(c.QuorumVoters) == 0 {
		return []int32{c.NodeID}
	}
	ids := make([]int32, len(c.QuorumVoters))
	for i, v := range c.QuorumVoters {
		ids[i] = v.NodeID
	}
	return ids
}

// voterAddress is the CONTROLLER listener of a voter, "" when unknown.
func (c Config) voterAddress(id int32) string {
	for _, v := range c.QuorumVoters {
		if v.NodeID == id {
			return v.Address
		}
	}
	return ""
}
