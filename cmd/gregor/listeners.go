package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// listener is one entry of listeners or advertised.listeners:
// NAME://host:port. Host is empty for "every interface".
type listener struct {
	Name             string // upper-case listener name, e.g. PLAINTEXT
	Host             string
	Port             int
	SecurityProtocol string // from listener.security.protocol.map
}

// String writes the listener back in Kafka's form.
func (l listener) String() string {
	return l.Name + "://" + net.JoinHostPort(l.Host, strconv.Itoa(l.Port))
}

// Address is the host:port to listen on or connect to.
func (l listener) Address() string {
	return net.JoinHostPort(l.Host, strconv.Itoa(l.Port))
}

// securityProtocols are Kafka's security protocol names; gregor serves only
// PLAINTEXT for now.
var securityProtocols = []string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}

// supportedSecurityProtocol is the only protocol gregor's listeners speak.
const supportedSecurityProtocol = "PLAINTEXT"

const listenerForm = "a comma-separated list of NAME://host:port (e.g. PLAINTEXT://127.0.0.1:9092; host may be empty for all interfaces, IPv6 in brackets)"

// parseListenerList reads listeners or advertised.listeners. Names must be
// distinct, and so must non-zero ports.
func parseListenerList(value string) ([]listener, string, bool) {
	var list []listener
	for _, part := range strings.Split(value, ",") {
		l, ok := parseListener(strings.TrimSpace(part))
		if !ok {
			return nil, listenerForm, false
		}
		for _, seen := range list {
			if seen.Name == l.Name || (l.Port != 0 && seen.Port == l.Port) {
				return nil, listenerForm + ", each with its own name and port", false
			}
		}
		list = append(list, l)
	}
	return list, listenerForm, true
}

// parseListener reads NAME://host:port.
func parseListener(text string) (listener, bool) {
	name, address, found := strings.Cut(text, "://")
	if !found || !isListenerName(name) {
		return listener{}, false
	}
	host, port, ok := parseHostPort(address)
	if !ok {
		return listener{}, false
	}
	return listener{Name: strings.ToUpper(name), Host: host, Port: port}, true
}

// isListenerName reports whether name is letters, digits and underscores.
func isListenerName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// parseHostPort reads host:port where host is empty, an IP address (IPv6 in
// brackets) or a DNS name, and port is 0 to 65535.
func parseHostPort(address string) (string, int, bool) {
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return "", 0, false
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, false
	}
	if host != "" && net.ParseIP(host) == nil && !isHostName(host) {
		return "", 0, false
	}
	return host, port, true
}

// isHostName reports whether host is a plausible DNS name: dot-separated
// labels of letters, digits, '-' and '_', none empty or longer than 63.
func isHostName(host string) bool {
	if len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// isWildcardHost reports whether host means "every interface", which a
// client cannot connect to.
func isWildcardHost(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

const protocolMapForm = "a comma-separated list of NAME:PROTOCOL with PROTOCOL one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"

// parseProtocolMap reads listener.security.protocol.map.
func parseProtocolMap(value string) (map[string]string, string, bool) {
	protocols := make(map[string]string)
	for _, part := range strings.Split(value, ",") {
		name, protocol, found := strings.Cut(strings.TrimSpace(part), ":")
		name, protocol = strings.ToUpper(strings.TrimSpace(name)), strings.ToUpper(strings.TrimSpace(protocol))
		if !found || !isListenerName(name) || !isSecurityProtocol(protocol) {
			return nil, protocolMapForm, false
		}
		if _, dup := protocols[name]; dup {
			return nil, protocolMapForm + ", each name once", false
		}
		protocols[name] = protocol
	}
	return protocols, protocolMapForm, true
}

func isSecurityProtocol(p string) bool {
	for _, known := range securityProtocols {
		if p == known {
			return true
		}
	}
	return false
}

// assignSecurityProtocols looks each listener's protocol up in protocols and
// refuses the ones gregor does not serve.
func assignSecurityProtocols(list []listener, protocols map[string]string) error {
	for i := range list {
		protocol, ok := protocols[list[i].Name]
		if !ok {
			return fmt.Errorf("listener %s has no entry in listener.security.protocol.map", list[i])
		}
		if protocol != supportedSecurityProtocol {
			return fmt.Errorf("listener %s uses security protocol %s; gregor serves %s only", list[i], protocol, supportedSecurityProtocol)
		}
		list[i].SecurityProtocol = protocol
	}
	return nil
}
