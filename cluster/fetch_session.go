package cluster

// FetchSessionUnknown says whether a Fetch request names a fetch session this
// broker cannot have, to be answered FETCH_SESSION_ID_NOT_FOUND with no
// partitions. The broker hands out no fetch sessions (it answers session id
// 0), so only an incremental fetch (an epoch other than 0 and -1) names one.
// A full fetch is served whatever session id it carries, as Kafka serves it:
// epoch 0 asks for a new session (Kafka closes the one named and opens
// another), epoch -1 asks for none (Kafka closes the one named and answers
// without a session); kafka-go's Client.Fetch sends session id -1, epoch -1.
func FetchSessionUnknown(sessionEpoch int32) bool {
	return sessionEpoch != 0 && sessionEpoch != -1
}
