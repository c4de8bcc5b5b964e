package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/firebreak/firebreak/incidents"
	"github.com/firebreak/firebreak/storage"
	"github.com/firebreak/firebreak/storage/atomicfile"
)

// withDB runs fn on the database file, or reports locked when a running
// bot holds it, so the caller asks that bot over its admin socket instead.
// A bot that answers on its socket is asked first: opening the file would
// only wait out the lock timeout before failing.
//
// With FIREBREAK_ETCD_ENDPOINTS set, fn runs on the etcd store instead:
// the cluster is shared by every replica, so there is no lock and no
// socket to ask.
func withDB(ctx context.Context, env environ, fn func(store, *incidents.Service) error) (locked bool, err error) {
	if ecfg, ok, err := etcdConfig(env); err != nil {
		return false, err
	} else if ok {
		s, err := openEtcd(ctx, ecfg)
		if err != nil {
			return false, err
		}
		defer s.Close()
		return false, withService(env, s, fn)
	}
	path := dbPath(env)
	if _, statErr := os.Stat(path); errors.Is(statErr, os.ErrNotExist) {
		return false, fmt.Errorf("no database at %s (set FIREBREAK_DB, or run the bot once to create it)", path)
	}
	timeout := env.lockTimeout
	if timeout == 0 {
		timeout = time.Second
	}
	// Wait for the lock in short slices and ask the bot again between
	// them: a bot that was starting, or too busy to accept at the first
	// ask, is still asked rather than waited out for the whole timeout.
	deadline := time.Now().Add(timeout)
	for {
		if botAnswers(ctx, adminSocket(path)) {
			return true, nil
		}
		db, err := storage.Open(path, storage.Options{Timeout: min(lockSlice, max(time.Until(deadline), time.Millisecond))})
		if errors.Is(err, storage.ErrLocked) {
			if time.Now().Before(deadline) && ctx.Err() == nil {
				continue
			}
			return true, nil
		}
		if err != nil {
			return false, err
		}
		defer db.Close()
		return false, withService(env, boltStore{DB: db, path: path}, fn)
	}
}

// lockSlice is how long operator commands wait for the database lock before
// asking a running bot on its admin socket again.
const lockSlice = 250 * time.Millisecond

// withService runs fn with s and a Service on it, configured from the
// playbooks file.
func withService(env environ, s store, fn func(store, *incidents.Service) error) error {
	cfg, err := loadConfig(configPath(env), env.getenv("FIREBREAK_CONFIG") != "")
	if err != nil {
		return err
	}
	return fn(s, incidents.NewService(s, cfg, incidents.WithLogger(logger(env, true))))
}

// botAnswers reports whether a running bot accepts connections on its admin
// socket. A stale socket file (the bot crashed) refuses at once.
func botAnswers(ctx context.Context, socket string) bool {
	if fi, err := os.Stat(socket); err != nil || fi.Mode()&os.ModeSocket == 0 {
		return false
	}
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// listIncidents prints incidents newest first.
func listIncidents(ctx context.Context, args []string, env environ) error {
	fs := newFlagSet("incidents", env)
	all := fs.Bool("all", false, "include resolved incidents")
	limit := fs.Int("n", 50, "show at most this many (0: all)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	var list []*incidents.Incident
	locked, err := withDB(ctx, env, func(_ store, svc *incidents.Service) error {
		var err error
		list, err = svc.List(ctx, incidents.ListQuery{OpenOnly: !*all, Limit: *limit})
		return err
	})
	if err != nil {
		return err
	}
	if locked {
		q := "/v1/incidents"
		if *all {
			q += "?all=1"
		}
		var buf bytes.Buffer
		if err := newAdminClient(adminSocket(dbPath(env))).get(ctx, q, &buf); err != nil {
			return err
		}
		if err := json.Unmarshal(buf.Bytes(), &list); err != nil {
			return fmt.Errorf("reading incident list from the running bot: %w", err)
		}
		if *limit > 0 && len(list) > *limit {
			list = list[:*limit]
		}
	}
	if *asJSON {
		if list == nil {
			list = []*incidents.Incident{} // [], not null, for jq '.[]'
		}
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(list)
	}
	if len(list) == 0 {
		if *all {
			fmt.Fprintln(env.stdout, "no incidents")
		} else {
			fmt.Fprintln(env.stdout, "no open incidents (-all lists resolved ones too)")
		}
		return nil
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tSTATUS\tSEV\tTITLE\tSERVICE\tOPENED (UTC)")
	for _, inc := range list {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", inc.Number, inc.Status, inc.Severity,
			inc.Title, dash(inc.Service), inc.OpenedAt.UTC().Format("2006-01-02 15:04:05"))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// postmortem writes incident N's postmortem to stdout or a file.
func postmortem(ctx context.Context, args []string, env environ) error {
	fs := newFlagSet("postmortem", env)
	out := fs.String("o", "", "write to this file instead of standard output")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"postmortem takes one incident number"}
	}
	n, err := strconv.ParseUint(trimHash(pos[0]), 10, 64)
	if err != nil || n == 0 {
		return usageError{fmt.Sprintf("%q is not an incident number", pos[0])}
	}
	if *out != "" {
		if err := checkOutputTarget("write the postmortem onto", "the postmortem", *out, dbPath(env)); err != nil {
			return err
		}
	}
	// Render fully before touching the output file, so a failure never
	// leaves half a postmortem behind.
	var buf limitedBuffer
	locked, err := withDB(ctx, env, func(_ store, svc *incidents.Service) error {
		return svc.Postmortem(ctx, n, &buf)
	})
	if err != nil {
		return err
	}
	if locked {
		if err := newAdminClient(adminSocket(dbPath(env))).get(ctx, "/v1/postmortem/"+strconv.FormatUint(n, 10), &buf); err != nil {
			return err
		}
	}
	if *out == "" {
		_, err := env.stdout.Write(buf.b)
		return err
	}
	if err := writeFileAtomic(*out, buf.b, 0o640); err != nil {
		return err
	}
	fmt.Fprintf(env.stderr, "postmortem of incident #%d written to %s\n", n, *out)
	return nil
}

func trimHash(s string) string {
	if len(s) > 0 && s[0] == '#' {
		return s[1:]
	}
	return s
}

// backup writes a consistent copy of the database, from the file when the
// bot is not running, else from the running bot over its admin socket. It
// refuses a target that is the database itself (or its admin socket):
// renaming a copy over the live file would leave the running bot writing to
// an unlinked file and lose every later change.
func backup(ctx context.Context, args []string, env environ) error {
	fs := newFlagSet("backup", env)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"backup takes one output file"}
	}
	dst := pos[0]
	if err := checkOutputTarget("back up onto", "the backup", dst, dbPath(env)); err != nil {
		return err
	}
	locked, err := withDB(ctx, env, func(s store, _ *incidents.Service) error {
		return writeWithTemp(dst, 0o600, func(w io.Writer) error { return backupTo(ctx, s, w) })
	})
	if err != nil {
		return err
	}
	if locked {
		err := writeWithTemp(dst, 0o600, func(w io.Writer) error {
			return newAdminClient(adminSocket(dbPath(env))).get(ctx, "/v1/backup", w)
		})
		if err != nil {
			return err
		}
	}
	fi, err := os.Stat(dst)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "backup written to %s (%d bytes)\n", dst, fi.Size())
	return nil
}

// checkOutputTarget refuses an output file (a backup, a postmortem) that
// is the database or its admin socket: the same path (after cleaning and
// resolving symlinks in its directory), the same file (a hard or symbolic
// link, by inode), or a symlink pointing at either.
func checkOutputTarget(verb, output, dst, db string) error {
	refuse := func(what string) error {
		return fmt.Errorf("refusing to %s %s: it is %s; choose another file for %s", verb, dst, what, output)
	}
	for _, live := range []struct{ path, what string }{
		{db, "the database itself (" + db + ")"},
		{adminSocket(db), "the running bot's admin socket (" + adminSocket(db) + ")"},
	} {
		if samePath(dst, live.path) {
			return refuse(live.what)
		}
		lfi, err := os.Stat(live.path)
		if err != nil {
			continue // nothing there to overwrite
		}
		if dfi, err := os.Stat(dst); err == nil && os.SameFile(dfi, lfi) {
			return refuse(live.what)
		}
		// A symlink is replaced, not followed, by the rename; refuse it
		// anyway, because whoever made it meant the database.
		if dfi, err := os.Lstat(dst); err == nil && dfi.Mode()&os.ModeSymlink != 0 {
			if target, err := filepath.EvalSymlinks(dst); err == nil && samePath(target, live.path) {
				return refuse(live.what)
			}
		}
	}
	return nil
}

// samePath compares two paths after making them absolute and resolving
// symlinks in their directories (the files themselves may not exist).
func samePath(a, b string) bool {
	canon := func(p string) string {
		abs, err := filepath.Abs(p)
		if err != nil {
			return filepath.Clean(p)
		}
		dir, base := filepath.Split(abs)
		if d, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(d, base)
		}
		return abs
	}
	return canon(a) == canon(b)
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	return writeWithTemp(path, mode, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeWithTemp writes the file atomically and durably through the
// repository's one helper (storage/atomicfile): readers never see a partial
// file and a failed write leaves the old one untouched.
func writeWithTemp(path string, mode os.FileMode, fill func(io.Writer) error) error {
	return atomicfile.Write(path, mode, fill)
}
