package main

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// kafkaFlagAliases are the flag names of Kafka's command-line tools
// (kafka-topics, kafka-console-producer and -consumer, ...) that gregor
// accepts for its own flag of the same meaning, so that a user's habits
// (kafka-topics --create --topic orders --partitions 6 --replication-factor 3
// --bootstrap-server HOST:PORT) work with gregor's verbs. An alias works in
// every command that has the flag it stands for, and only there: elsewhere
// the flag is unknown, under the name the user typed.
var kafkaFlagAliases = map[string]string{
	"replication-factor": "replicas",
	"bootstrap-server":   "brokers",
	"max-messages":       "num",
}

// kafkaFlagNames makes a flag set read Kafka's names as gregor's.
func kafkaFlagNames(_ *pflag.FlagSet, name string) pflag.NormalizedName {
	if own, ok := kafkaFlagAliases[name]; ok {
		return pflag.NormalizedName(own)
	}
	return pflag.NormalizedName(name)
}

// kafkaAliasesOf lists, for a help text, the Kafka names of a gregor flag.
func kafkaAliasesOf(flag string) []string {
	var names []string
	for kafka, own := range kafkaFlagAliases {
		if own == flag {
			names = append(names, "--"+kafka)
		}
	}
	slices.Sort(names)
	return names
}

// acceptKafkaFlags makes root and every command under it accept Kafka's
// flag names, and notes each alias in the help of the flag it stands for.
func acceptKafkaFlags(root *cobra.Command) {
	root.SetGlobalNormalizationFunc(kafkaFlagNames)
	var note func(cmd *cobra.Command)
	noted := map[*pflag.Flag]bool{}
	note = func(cmd *cobra.Command) {
		for _, set := range []*pflag.FlagSet{cmd.Flags(), cmd.PersistentFlags()} {
			set.VisitAll(func(f *pflag.Flag) {
				if aliases := kafkaAliasesOf(f.Name); len(aliases) > 0 && !noted[f] {
					noted[f] = true
					f.Usage += " (also " + strings.Join(aliases, ", ") + ", as Kafka's tools name it)"
				}
			})
		}
		for _, sub := range cmd.Commands() {
			note(sub)
		}
	}
	note(root)
}

// acceptTopicFlag lets cmd, whose arguments are topic names, take them as
// Kafka's tools do too: --topic NAME (repeatable), added after the
// arguments given in place.
func acceptTopicFlag(cmd *cobra.Command) { acceptNameFlag(cmd, "topic") }

// acceptGroupFlag lets cmd, whose arguments are group ids, take them as
// kafka-consumer-groups does too: --group NAME (repeatable).
func acceptGroupFlag(cmd *cobra.Command) { acceptNameFlag(cmd, "group") }

// acceptNameFlag adds --NAME (repeatable) to cmd, whose arguments are
// names of that kind: the flag's values are added after the arguments
// given in place, before cmd's argument check and run see them.
func acceptNameFlag(cmd *cobra.Command, name string) {
	var names []string
	cmd.Flags().StringArrayVar(&names, name, nil, "a "+name+", as Kafka's tools name it (repeatable; the same as giving it as an argument)")
	validate, run := cmd.Args, cmd.RunE
	withNames := func(args []string) []string { return append(slices.Clone(args), names...) }
	cmd.Args = func(c *cobra.Command, args []string) error {
		if validate == nil {
			return nil
		}
		return validate(c, withNames(args))
	}
	cmd.RunE = func(c *cobra.Command, args []string) error { return run(c, withNames(args)) }
}
