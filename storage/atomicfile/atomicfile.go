// Package atomicfile is Firebreak's one way to write a file that people or
// programs read: backups, exports and postmortems. A reader, and the disk
// after a crash, sees the old file or the complete new one, never a part:
// the content goes to a temporary file in the same directory, is fsynced,
// renamed into place (github.com/google/renameio/v2), and the directory is
// fsynced so the rename itself survives a crash.
//
// It depends on nothing else in Firebreak, so the domain (incidents) and
// the commands (cmd/firebreak) can both use it.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"
)

// Write replaces the file at path with what fill writes, with exactly the
// permissions mode (the umask does not apply: a postmortem or a backup must
// not become world-readable by accident). When fill or the write fails,
// the temporary file is removed and an existing file at path is left as it
// was. The directory must exist.
func Write(path string, mode os.FileMode, fill func(io.Writer) error) error {
	dir := filepath.Dir(path)
	f, err := renameio.NewPendingFile(path, renameio.WithTempDir(dir), renameio.WithStaticPermissions(mode))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() { _ = f.Cleanup() }()
	if err := fill(f); err != nil {
		return err
	}
	// Syncs the file, closes it and renames it into place.
	if err := f.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("write %s: the file is in place but its directory could not be synced: %w", path, err)
	}
	return nil
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	if cerr := d.Close(); serr == nil {
		serr = cerr
	}
	return serr
}
