package main

import "gregor/cluster"

// closestConfigKeys returns the known keys (and Kafka aliases gregor reads)
// that an unknown key is most likely a typo of: those within two edits of
// it, the nearest first; none when nothing is that close.
func closestConfigKeys(key string) []string {
	best, out := 3, []string(nil)
	consider := func(name string) {
		switch d := cluster.EditDistance(key, name); {
		case d < best:
			best, out = d, []string{name}
		case d == best:
			out = append(out, name)
		}
	}
	for _, k := range brokerConfigKeys {
		consider(k.Name)
	}
	for _, a := range configAliases {
		consider(a.Key)
	}
	return out
}
