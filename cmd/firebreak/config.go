package main

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/firebreak/firebreak/playbooks"
)

// errCheckFailed makes `firebreak check` exit 1 after it printed the problems.
var errCheckFailed = errors.New("playbooks file has problems")

// loadConfig reads the playbooks file. A missing file is only acceptable when
// nobody named it: then the built-in default playbooks apply, so the bot
// runs from any directory.
func loadConfig(path string, named bool) (*playbooks.Config, error) {
	cfg, err := playbooks.Load(path)
	if err == nil {
		return cfg, nil
	}
	if !named && errors.Is(err, fs.ErrNotExist) {
		return playbooks.Default(), nil
	}
	return nil, err
}

// check validates a playbooks file and prints every problem with file:line.
func check(args []string, env environ) error {
	fs := newFlagSet("check", env)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	// Without an argument check looks where serve does: FIREBREAK_CONFIG,
	// else ./playbooks.yaml, else the built-in default serve would run.
	path, named := configPath(env), env.getenv("FIREBREAK_CONFIG") != ""
	switch len(pos) {
	case 0:
	case 1:
		path, named = pos[0], true
	default:
		return usageError{"check takes at most one file"}
	}
	cfg, err := loadConfig(path, named)
	if err != nil {
		fmt.Fprintln(env.stderr, err)
		return errCheckFailed
	}
	if cfg.Path == "" {
		path = "built-in default playbooks (no " + path + " here)"
	}
	rules, steps := len(cfg.Rules), 0
	for _, pb := range cfg.Playbooks {
		steps += len(pb.Steps)
	}
	fmt.Fprintf(env.stdout, "%s: ok — %d playbooks (%d steps), %d match rules, %d probes, %d alert channels\n",
		path, len(cfg.Playbooks), steps, rules, len(cfg.Probes), len(cfg.AlertChannels))
	return nil
}
