package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// withTracker adds postmortem.tracker to the test environment's playbooks.yaml.
func withTracker(t *testing.T, e *testEnv, tracker string) {
	t.Helper()
	path := filepath.Join(e.dir, "playbooks.yaml")
	src, err := os.ReadFile(path)
	require.NoError(t, err)
	out := strings.Replace(string(src), "  template: \"\"\n", "  template: \"\"\n  tracker:\n"+tracker, 1)
	require.NotEqual(t, string(src), out, "the shipped playbooks.yaml has postmortem.template")
	require.NoError(t, os.WriteFile(path, []byte(out), 0o600))
}

func TestTrackerNeedsItsToken(t *testing.T) {
	e := newTestEnv(t)
	withTracker(t, e, "    kind: github\n    repository: acme/ops\n")
	code, _, errOut := e.run("")
	assert.NotEqual(t, 0, code)
	assert.Contains(t, errOut, "FIREBREAK_GITHUB_TOKEN is not set")

	e.env["FIREBREAK_GITHUB_TOKEN"] = "ghp_x"
	code, _, errOut = e.run("")
	assert.Equal(t, 0, code, errOut)
}

func TestCheckReportsTrackerProblems(t *testing.T) {
	e := newTestEnv(t)
	withTracker(t, e, "    kind: jira\n    project: ops\n")
	code, _, errOut := e.run("", "check")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "playbooks.yaml:44: postmortem.tracker.project: \"ops\" is not a Jira project key")
	assert.Contains(t, errOut, "postmortem.tracker.url: a Jira tracker needs url")
}
