package incidents

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/firebreak/firebreak/storage/atomicfile"
)

// Permissions of a postmortem file and of the directory made for it: a
// postmortem names people and systems, so it is not world-readable.
const (
	PostmortemFileMode os.FileMode = 0o640
	PostmortemDirMode  os.FileMode = 0o750
)

// WritePostmortem renders the postmortem of incident n once, into the file
// at path and into also (nil for none; chat adapters keep a copy to
// attach). The file is written atomically and fsynced (storage/atomicfile):
// after any failure, including a crash, it is complete or as it was before,
// never half a document. also must not fail on its own; if it does, the
// file is not written. The directory is created when missing.
func (s *Service) WritePostmortem(ctx context.Context, n uint64, path string, also io.Writer) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, PostmortemDirMode); err != nil {
		return fmt.Errorf("create the postmortem directory %s: %w", dir, err)
	}
	err := atomicfile.Write(path, PostmortemFileMode, func(f io.Writer) error {
		w := f
		if also != nil {
			w = io.MultiWriter(f, also)
		}
		return s.Postmortem(ctx, n, w)
	})
	if err != nil {
		return fmt.Errorf("write the postmortem of incident #%d to %s: %w", n, path, err)
	}
	return nil
}
