// Command firebreak is the Firebreak incident bot: one binary that runs the
// bot (`serve`, the default) and the operator subcommands around it.
//
// Configuration comes from the environment (secrets, endpoints) and from
// playbooks.yaml (everything else); see README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env := environ{getenv: os.Getenv, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	tuneGC(os.Getenv)
	os.Exit(run(ctx, os.Args[1:], env))
}

// Garbage collector defaults for the process, each used only when the
// operator has not set the Go runtime's own variable (GOGC, GOMEMLIMIT).
const (
	// defaultGCPercent lets the heap grow to three times what is live
	// between collections instead of Go's two: in an alert storm the
	// collector's share of CPU falls by about a third for a few MiB more
	// heap (docs/BENCHMARKS.md, "Garbage collection").
	defaultGCPercent = 200
	// defaultMemoryLimit is a soft limit: near it the collector runs as
	// often as it must, so the larger GOGC does not let concurrent large
	// payloads (bounded by admission control) push the heap further. It
	// sets the peak of such a load: 392–412 MiB resident at 384 MiB, half
	// of Alertmanager's, and 302–329 MiB at 288 MiB for up to a fifth
	// fewer alerts per second there, still 1.56–1.72× Alertmanager's;
	// storms of ordinary alerts stay far below it.
	defaultMemoryLimit = 288 << 20
)

// tuneGC applies the collector defaults above. It is called from main
// only: the setting is the process's, and tests run serve in-process.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}

// environ is everything the process takes from the outside world, passed
// explicitly so tests can run the whole binary in-process.
type environ struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// stdinIsTerminal decides whether the console shows a prompt; nil means detect.
	stdinIsTerminal *bool
	// now is the clock of incidents and cards; nil means time.Now. Tests
	// that compare transcripts set it.
	now func() time.Time
	// lockTimeout is how long operator commands wait for the database
	// lock when no bot answers on the admin socket; zero means 1 s.
	lockTimeout time.Duration
}

// usageError is a mistake on the command line: print it with usage, exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

const usage = `usage: firebreak [command] [flags]

commands:
  serve [-console|-headless] run the bot (default): console chat without Slack/Discord credentials
  check [playbooks.yaml]     validate a playbooks file (default: $FIREBREAK_CONFIG, else
                             playbooks.yaml, else the built-in default); exit status 1 on any problem
  incidents [-all] [-n N] [-json]
                             list incidents from the database (newest first, at most N: 50)
  postmortem N [-o file.md]  write the postmortem of incident N (stdout without -o)
  backup FILE                write a consistent copy of the database (works while the bot runs)
  migrate to-etcd            copy FIREBREAK_DB into the etcd cluster (FIREBREAK_ETCD_*), then verify it
  migrate to-bbolt FILE      copy the etcd store into a new bbolt file, then verify it
  version                    print the version

environment: FIREBREAK_DB (default firebreak.db), FIREBREAK_CONFIG (default playbooks.yaml),
FIREBREAK_LISTEN, FIREBREAK_WEBHOOK_TOKEN, FIREBREAK_LOG_LEVEL, SLACK_*, DISCORD_* — see README.md.
`

func run(ctx context.Context, args []string, env environ) int {
	cmd := "serve"
	if len(args) > 0 && isHelp(args[0]) {
		// "firebreak -h" asks about the binary, not about serve's flags.
		fmt.Fprint(env.stdout, usage)
		return 0
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, args, env)
	case "check":
		err = check(args, env)
	case "incidents", "list":
		err = listIncidents(ctx, args, env)
	case "postmortem":
		err = postmortem(ctx, args, env)
	case "backup":
		err = backup(ctx, args, env)
	case "migrate":
		err = migrate(ctx, args, env)
	case "version", "-version", "--version":
		fmt.Fprintln(env.stdout, "firebreak", version)
	case "help":
		fmt.Fprint(env.stdout, usage)
	default:
		err = usageError{fmt.Sprintf("unknown command %q", cmd)}
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(env.stderr, "firebreak: %v\n\n%s", err, usage)
		return 2
	case errors.Is(err, errCheckFailed):
		return 1
	default:
		fmt.Fprintf(env.stderr, "firebreak: %v\n", err)
		return 1
	}
}

func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

// newFlagSet returns a flag set that reports errors instead of exiting;
// "firebreak NAME -h" prints NAME's flags under the command list.
func newFlagSet(name string, env environ) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "%s\nflags of firebreak %s:\n", usage, name)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses flags anywhere among the arguments ("postmortem 4 -o x"
// as well as "postmortem -o x 4"), returning the positional ones.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// logger builds the process logger. In console mode the terminal is the
// chat, so only warnings are logged unless FIREBREAK_LOG_LEVEL says otherwise.
func logger(env environ, quiet bool) *slog.Logger {
	level := slog.LevelInfo
	if quiet {
		level = slog.LevelWarn
	}
	if v := env.getenv("FIREBREAK_LOG_LEVEL"); v != "" {
		_ = level.UnmarshalText([]byte(v))
	}
	return slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level}))
}

func dbPath(env environ) string {
	if p := env.getenv("FIREBREAK_DB"); p != "" {
		return p
	}
	return "firebreak.db"
}

func configPath(env environ) string {
	if p := env.getenv("FIREBREAK_CONFIG"); p != "" {
		return p
	}
	return "playbooks.yaml"
}
