package atomicfile_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/storage/atomicfile"
)

func TestWrite(t *testing.T) {
	boom := errors.New("disk went away")
	tests := []struct {
		name  string
		old   string // "" for no file before
		fill  func(io.Writer) error
		want  string // content after; "" for absent
		err   error
		perms os.FileMode
	}{
		{name: "new file", fill: write("complete\n"), want: "complete\n", perms: 0o640},
		{name: "replaces", old: "old\n", fill: write("new\n"), want: "new\n", perms: 0o600},
		{name: "fails midway, no file before", fill: failMidway(boom), err: boom},
		{name: "fails midway, old file kept", old: "old\n", fill: failMidway(boom), want: "old\n", err: boom, perms: 0o640},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out.md")
			if tt.old != "" {
				require.NoError(t, os.WriteFile(path, []byte(tt.old), tt.perms))
			}
			err := atomicfile.Write(path, tt.perms, tt.fill)
			if tt.err != nil {
				assert.ErrorIs(t, err, tt.err)
			} else {
				require.NoError(t, err)
			}
			got, rerr := os.ReadFile(path)
			if tt.want == "" {
				assert.ErrorIs(t, rerr, os.ErrNotExist, "absent, not partial")
			} else {
				require.NoError(t, rerr)
				assert.Equal(t, tt.want, string(got), "complete, never partial")
				st, err := os.Stat(path)
				require.NoError(t, err)
				assert.Equal(t, tt.perms, st.Mode().Perm())
			}
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			for _, e := range entries {
				assert.Equal(t, "out.md", e.Name(), "no temporary file left behind")
			}
		})
	}
}

func TestWriteIgnoresUmask(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out")
	require.NoError(t, atomicfile.Write(path, 0o640, write("x")))
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), st.Mode().Perm())
}

func TestWriteNoDirectory(t *testing.T) {
	err := atomicfile.Write(filepath.Join(t.TempDir(), "missing", "out"), 0o600, write("x"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing")
}

func write(s string) func(io.Writer) error {
	return func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	}
}

// failMidway writes half a document, then fails.
func failMidway(err error) func(io.Writer) error {
	return func(w io.Writer) error {
		if _, werr := io.WriteString(w, strings.Repeat("half a document\n", 1000)); werr != nil {
			return werr
		}
		return err
	}
}
