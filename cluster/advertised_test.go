package cluster

import "testing"

func TestAdvertisedEndpoint(t *testing.T) {
	for _, c := range []struct {
		host     string
		port     int32
		wantHost string
		wantPort int32
	}{
		{"", 0, "127.0.0.1", 9092},
		{"broker.example", 0, "broker.example", 9092},
		{"", 19092, "127.0.0.1", 19092},
		{"broker.example", 19092, "broker.example", 19092},
	} {
		h, p := AdvertisedEndpoint(c.host, c.port, "127.0.0.1", 9092)
		if h != c.wantHost || p != c.wantPort {
			t.Errorf("AdvertisedEndpoint(%q, %d) = %s:%d, want %s:%d", c.host, c.port, h, p, c.wantHost, c.wantPort)
		}
	}
}
