package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// serveOptions are the flags of gregor serve.
type serveOptions struct {
	configPath  string
	overrides   []string
	checkConfig bool
}

func newServeCommand() *cobra.Command {
	var opts serveOptions
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a broker node",
		Long: `Run a broker node configured by a Kafka-style server.properties file
(--config) and --set key=value overrides, which win over the file. The
effective configuration is printed to stdout; unknown keys are warned about,
and an invalid value stops startup.

The garbage collector runs at GOGC=200 with a soft memory limit of half the
memory the process may use (its cgroup's limit, else the machine's; at
least 1.5 times log.cache.bytes plus 512 MiB), leaving the rest to the page
cache that holds the segment files; the GOGC and GOMEMLIMIT environment
variables override either.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd, opts)
		},
	}
	cmd.Flags().StringVarP(&opts.configPath, "config", "c", "", "server.properties file to read")
	cmd.Flags().StringArrayVar(&opts.overrides, "set", nil, "override a setting, key=value (repeatable)")
	cmd.Flags().BoolVar(&opts.checkConfig, "check-config", false, "validate the configuration, print it, and exit")
	return cmd
}

// runServe loads the configuration, builds the logger it asks for, and runs
// the node until a signal stops it.
func runServe(cmd *cobra.Command, opts serveOptions) error {
	var props []property
	fileName := "(no file)"
	if opts.configPath != "" {
		var err error
		if props, err = readServerProperties(opts.configPath); err != nil {
			return err
		}
		fileName = opts.configPath
	}
	settings, err := collectSettings(fileName, props, opts.overrides)
	if err != nil {
		return err
	}
	level, format := loggerSettings(settings)
	logger, err := newLogger(level, format, zapcore.Lock(zapcore.AddSync(cmd.ErrOrStderr())))
	if err != nil {
		return err
	}
	defer func() { _ = logger.Sync() }()
	cfg, err := buildBrokerConfig(settings, configOptions{hostname: os.Hostname}, logger)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	// What the node does not support yet (a second listener or log
	// directory) is a configuration error too, so --check-config finds it.
	node, err := nodeConfig(cfg)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if err := cfg.writeEffectiveConfig(cmd.OutOrStdout()); err != nil {
		return err
	}
	if opts.checkConfig {
		logger.Info("configuration is valid", zap.Int32("node_id", cfg.NodeID), zap.String("listeners", listenersString(cfg.Listeners)))
		return nil
	}
	release, err := lockLogDir("log.dirs", node.DataDir)
	if err != nil {
		return err
	}
	defer release()
	if dir := node.MetadataLogDir; dir != "" && filepath.Clean(dir) != filepath.Clean(node.DataDir) {
		releaseMetadata, err := lockLogDir("metadata.log.dir", dir)
		if err != nil {
			return err
		}
		defer releaseMetadata()
	}
	applyGCDefaults(cfg.LogCacheBytes, logger)
	if err := runNode(cmd.Context(), node, logger); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("%w\n%s", err, addrInUseHint(err))
		}
		return err
	}
	return nil
}
