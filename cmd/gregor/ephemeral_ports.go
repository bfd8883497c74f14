package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// portRangeFile is where Linux keeps the range of local ports it gives
// outgoing connections (net.ipv4.ip_local_port_range).
const portRangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// ephemeralPorts is the kernel's range of ports for outgoing connections;
// ok is false where it cannot be read (not Linux).
func ephemeralPorts() (lo, hi int, ok bool) {
	data, err := os.ReadFile(portRangeFile)
	if err != nil {
		return 0, 0, false
	}
	return parsePortRange(string(data))
}

// parsePortRange reads "LO HI" as the kernel writes the range.
func parsePortRange(text string) (lo, hi int, ok bool) {
	fields := strings.Fields(text)
	if len(fields) != 2 {
		return 0, 0, false
	}
	lo, err1 := strconv.Atoi(fields[0])
	hi, err2 := strconv.Atoi(fields[1])
	if err1 != nil || err2 != nil || lo > hi {
		return 0, 0, false
	}
	return lo, hi, true
}

// ephemeralWarning says, when some of a listener's ports lie in the range
// the kernel gives outgoing connections (lo to hi), what that costs: any
// client's connection may be given such a port while its node is down,
// and the node's restart then fails with "address already in use" until
// that connection ends and its TIME_WAIT passes (a minute), though no
// process listens there. Empty when none does.
func ephemeralWarning(ports []int, lo, hi int) string {
	var in []string
	for _, p := range ports {
		if p >= lo && p <= hi {
			in = append(in, strconv.Itoa(p))
		}
	}
	if len(in) == 0 {
		return ""
	}
	shown := in
	if len(shown) > 4 {
		shown = append(shown[:4:4], "...")
	}
	subject := "ports " + strings.Join(shown, ", ") + " lie"
	if len(in) == 1 {
		subject = "port " + in[0] + " lies"
	}
	return fmt.Sprintf("%s in the kernel's range for outgoing connections, %d-%d (net.ipv4.ip_local_port_range): "+
		"a client's connection may take one while its node is down, and the node's restart then fails with "+
		`"address already in use" until that connection's TIME_WAIT passes; use ports below %d (--base-port) or reserve them (net.ipv4.ip_local_reserved_ports)`,
		subject, lo, hi, lo)
}

// addrInUseHint explains a listener's "address already in use": another
// process listening there, or, for a port in the kernel's range for
// outgoing connections, a connection holding it though nothing listens.
func addrInUseHint(err error) string {
	hint := "another process listens there: stop it, or give this node free ports with --set (listeners, metrics.listener, debug.listener, gossip.listener)"
	var op *net.OpError
	if !errors.As(err, &op) || op.Addr == nil {
		return hint
	}
	_, port, splitErr := net.SplitHostPort(op.Addr.String())
	p, convErr := strconv.Atoi(port)
	lo, hi, ok := ephemeralPorts()
	if splitErr != nil || convErr != nil || !ok {
		return hint
	}
	if warning := ephemeralWarning([]int{p}, lo, hi); warning != "" {
		hint += "; if none does (ss -ltn), " + warning
	}
	return hint
}
