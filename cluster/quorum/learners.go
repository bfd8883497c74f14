package quorum

import "slices"

// MissingLearners lists, sorted, the brokers (registered in the metadata
// image) that are neither voters nor learners: the active leader adds each
// as a learner (AddLearner, one membership change at a time) so that it
// receives the metadata log.
func (m Membership) MissingLearners(brokers []int32) []int32 {
	var out []int32
	for _, b := range brokers {
		if !slices.Contains(m.Voters, b) && !slices.Contains(m.Learners, b) && !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	slices.Sort(out)
	return out
}
