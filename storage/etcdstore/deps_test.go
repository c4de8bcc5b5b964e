package etcdstore_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The production binary talks to etcd as a client only: the embedded
// server (and its ~560 packages) is for tests.
func TestBinaryDoesNotLinkTheEtcdServer(t *testing.T) {
	goBin, err := exec.LookPath("go")
	require.NoError(t, err, "this test runs `go list`; put the go command on PATH")
	cmd := exec.Command(goBin, "list", "-deps", "github.com/firebreak/firebreak/cmd/firebreak")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go list: %s", out)
	deps := strings.Fields(string(out))
	require.Contains(t, deps, "github.com/firebreak/firebreak/storage", "the list is the binary's dependencies")
	for _, p := range deps {
		assert.False(t, strings.HasPrefix(p, "go.etcd.io/etcd/server/"), "cmd/firebreak links %s", p)
		assert.False(t, strings.HasSuffix(p, "/etcdstore/etcdtest"), "cmd/firebreak links %s", p)
	}
}
