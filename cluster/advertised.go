package cluster

// AdvertisedEndpoint is the host and port clients are told to connect to:
// the configured ones, each falling back to the address the listener is
// bound to when it is not set.
func AdvertisedEndpoint(host string, port int32, boundHost string, boundPort int32) (string, int32) {
	if host == "" {
		host = boundHost
	}
	if port == 0 {
		port = boundPort
	}
	return host, port
}
