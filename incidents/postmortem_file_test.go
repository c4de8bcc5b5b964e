package incidents_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
)

// failAfter accepts limit bytes, then fails: a disk or copy that breaks
// halfway through the document.
type failAfter struct {
	limit int
	n     int
}

var errMidway = errors.New("broke halfway")

func (w *failAfter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.limit {
		return 0, errMidway
	}
	w.n += len(p)
	return len(p), nil
}

// TestWritePostmortemCompleteOrAbsent: after a failure midway the file is
// absent (first write) or the previous complete document (rewrite), never
// half of one; after success it is the whole document with mode 0640 in a
// directory made with mode 0750.
func TestWritePostmortemCompleteOrAbsent(t *testing.T) {
	f := walkedIncident(t)
	ctx := context.Background()
	var whole bytes.Buffer
	require.NoError(t, f.svc.Postmortem(ctx, 1, &whole))
	require.Greater(t, whole.Len(), 200)

	tests := []struct {
		name     string
		before   string // content already there; "" for none
		also     func() *failAfter
		wantErr  bool
		wantFile string // "" for absent
	}{
		{name: "written", wantFile: whole.String()},
		{name: "fails midway, nothing before", also: func() *failAfter { return &failAfter{limit: 100} }, wantErr: true},
		{name: "fails midway, old draft kept", before: "old draft\n", also: func() *failAfter { return &failAfter{limit: 100} }, wantErr: true, wantFile: "old draft\n"},
		{name: "rewritten", before: "old draft\n", also: func() *failAfter { return &failAfter{limit: 1 << 30} }, wantFile: whole.String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "postmortems")
			path := filepath.Join(dir, "incident-1-postmortem.md")
			if tt.before != "" {
				require.NoError(t, os.MkdirAll(dir, 0o750))
				require.NoError(t, os.WriteFile(path, []byte(tt.before), 0o640))
			}
			var err error
			if tt.also != nil {
				err = f.svc.WritePostmortem(ctx, 1, path, tt.also())
			} else {
				err = f.svc.WritePostmortem(ctx, 1, path, nil)
			}
			if tt.wantErr {
				require.ErrorIs(t, err, errMidway)
				assert.Contains(t, err.Error(), "incident #1")
			} else {
				require.NoError(t, err)
			}
			got, rerr := os.ReadFile(path)
			if tt.wantFile == "" {
				assert.ErrorIs(t, rerr, os.ErrNotExist, "absent, not half a document")
			} else {
				require.NoError(t, rerr)
				assert.Equal(t, tt.wantFile, string(got))
				st, err := os.Stat(path)
				require.NoError(t, err)
				assert.Equal(t, incidents.PostmortemFileMode, st.Mode().Perm())
			}
			dst, err := os.Stat(dir)
			require.NoError(t, err)
			if tt.before == "" {
				assert.Equal(t, incidents.PostmortemDirMode&^umaskOf(t), dst.Mode().Perm())
			}
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			for _, e := range entries {
				assert.Equal(t, "incident-1-postmortem.md", e.Name(), "no temporary file left behind")
			}
		})
	}
}

func TestWritePostmortemNoSuchIncident(t *testing.T) {
	f := newFixture(t, nil)
	path := filepath.Join(t.TempDir(), "incident-9-postmortem.md")
	err := f.svc.WritePostmortem(context.Background(), 9, path, nil)
	require.ErrorIs(t, err, incidents.ErrNotFound)
	_, serr := os.Stat(path)
	assert.ErrorIs(t, serr, os.ErrNotExist)
}

// umaskOf is the bits the process umask removes from a new directory.
func umaskOf(t *testing.T) os.FileMode {
	t.Helper()
	d := filepath.Join(t.TempDir(), "probe")
	require.NoError(t, os.Mkdir(d, 0o777))
	st, err := os.Stat(d)
	require.NoError(t, err)
	return 0o777 &^ st.Mode().Perm()
}
