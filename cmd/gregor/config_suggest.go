package main

// closestConfigKeys returns the known keys (and Kafka aliases gregor reads)
// that an unknown key is most likely a typo of: those within two edits of
// it, the nearest first; none when nothing is that close.
func closestConfigKeys(key string) []string {
	best, out := 3, []string(nil)
	consider := func(name string) {
		switch d := editDistance(key, name); {
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

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
