package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// newRootCommand builds the gregor command tree. Every call returns a fresh
// tree, so tests can run commands side by side with their own flags, input
// and output.
func newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "gregor",
		Short:         "A Kafka-compatible streaming broker built as an actor system",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       buildVersion(),
	}
	root.SetVersionTemplate("gregor {{.Version}}\n")
	root.AddCommand(
		newServeCommand(),
		newTopicCommand(),
		newProduceCommand(),
		newConsumeCommand(),
		newGroupCommand(),
		newTxnCommand(),
		newFeaturesCommand(),
		newPerfCommand(),
		newClusterCommand(),
		newSimCommand(),
	)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError(cmd, err) })
	// A command that only groups others keeps the usage "gregor topic
	// [command]" though explainUsageErrors gives it a RunE.
	root.SetUsageTemplate(strings.Replace(root.UsageTemplate(), "Usage:{{if .Runnable}}",
		`Usage:{{if and .Runnable (not (index .Annotations "`+groupAnnotation+`"))}}`, 1))
	for _, cmd := range root.Commands() {
		explainUsageErrors(cmd)
	}
	acceptKafkaFlags(root)
	return root
}

// groupAnnotation marks a command that only groups others: its usage is
// "gregor NAME COMMAND".
const groupAnnotation = "gregor.group"

// explainUsageErrors makes cmd and its subcommands say, on wrong
// arguments, which command refused them and where its usage is. A command
// that only groups others (gregor topic) refuses an unknown subcommand:
// cobra would print its help and exit 0, so a typo (gregor topic delet)
// looked like success.
func explainUsageErrors(cmd *cobra.Command) {
	if !cmd.Runnable() && cmd.HasSubCommands() {
		cmd.Annotations = map[string]string{groupAnnotation: "true"}
		cmd.Args = func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return nil
			}
			msg := fmt.Sprintf("unknown command %q", args[0])
			if s := c.SuggestionsFor(args[0]); len(s) > 0 {
				msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(s, ", "))
			}
			return errors.New(msg)
		}
		cmd.RunE = func(c *cobra.Command, args []string) error {
			return c.Help()
		}
	}
	if validate := cmd.Args; validate != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := validate(c, args); err != nil {
				return usageError(c, err)
			}
			return nil
		}
	}
	for _, sub := range cmd.Commands() {
		explainUsageErrors(sub)
	}
}

// usageError names the command whose arguments or flags were wrong, its
// usage line, and the help that explains them.
func usageError(cmd *cobra.Command, err error) error {
	usage := cmd.UseLine()
	if cmd.Annotations[groupAnnotation] != "" || cmd == cmd.Root() {
		usage = cmd.CommandPath() + " COMMAND"
	}
	if cmd == cmd.Root() {
		// main says "gregor: " already.
		return fmt.Errorf("%w\nusage: %s (see %s --help)", err, usage, cmd.CommandPath())
	}
	name := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
	return fmt.Errorf("%s: %w\nusage: %s (see %s --help)", name, err, usage, cmd.CommandPath())
}

// buildVersion is the module version and the commit the binary was built
// from (with "+dirty" when the tree had changes), as Go's build info
// records them.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := bi.Main.Version
	var rev, dirty, at string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		case "vcs.time":
			at = s.Value
		}
	}
	if rev != "" {
		v += fmt.Sprintf(" (commit %.12s%s, %s)", rev, dirty, at)
	}
	return v + " " + bi.GoVersion
}

// execute runs the command tree as main does and makes its error say what
// to do: a required flag left out names the command's usage, and a broker
// that refused the connection names the seed brokers' flag.
func execute(ctx context.Context, root *cobra.Command) error {
	cmd, err := root.ExecuteContextC(ctx)
	switch {
	case err == nil:
		return nil
	case strings.HasPrefix(err.Error(), "required flag(s)"):
		return usageError(cmd, err)
	case errors.Is(err, syscall.ECONNREFUSED) && cmd.Flags().Lookup("brokers") != nil:
		if addr, ok := refusedNonSeed(err, cmd); ok {
			return fmt.Errorf("%w\nthe cluster's metadata gives %s as a broker's address, and nothing listens there: that broker is down or restarting (gregor cluster status lists the live ones), or its advertised.listeners names an address it does not listen on", err, addr)
		}
		return fmt.Errorf("%w\nno broker listens there: start one (gregor serve, gregor cluster up) or name yours with --brokers or $%s", err, brokersEnv)
	case strings.Contains(err.Error(), "'HTTP' in ascii") && cmd.Flags().Lookup("brokers") != nil:
		// franz-go read an HTTP answer: a node's metrics.listener or
		// debug.listener, most likely (cluster up puts them at +300).
		return fmt.Errorf("%w\nan HTTP server answered there (a node's metrics.listener or debug.listener?): name a node's Kafka listener with --brokers or $%s", err, brokersEnv)
	}
	return err
}

// refusedNonSeed returns the address that refused err's connection when it
// is none of the command's seed brokers: a broker the cluster's metadata
// named, so "no broker listens there" would mislead.
func refusedNonSeed(err error, cmd *cobra.Command) (string, bool) {
	var op *net.OpError
	if !errors.As(err, &op) || op.Addr == nil {
		return "", false
	}
	refused := op.Addr.String()
	rHost, rPort, splitErr := net.SplitHostPort(refused)
	if splitErr != nil {
		return "", false
	}
	flag, _ := cmd.Flags().GetStringSlice("brokers")
	for _, seed := range seedList(flag) {
		host, port, err := net.SplitHostPort(seed)
		if err != nil || port != rPort {
			continue
		}
		if host == rHost {
			return "", false
		}
		if ips, err := net.LookupHost(host); err == nil && slices.Contains(ips, rHost) {
			return "", false
		}
	}
	return refused, true
}
