package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/playbooks"
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

// TestTrackerIncidentURL: issues link the incident's web page when
// FIREBREAK_PUBLIC_URL is set, the page chat cards link too.
func TestTrackerIncidentURL(t *testing.T) {
	env := func(pub string) func(string) string {
		return func(k string) string {
			if k == "FIREBREAK_PUBLIC_URL" {
				return pub
			}
			return ""
		}
	}
	tests := []struct {
		name, configured, public, want string
	}{
		{"incident_url wins", "https://wiki.example.com/inc/{number}", "https://firebreak.example.com", "https://wiki.example.com/inc/{number}"},
		{"the web view page", "", "https://firebreak.example.com/", "https://firebreak.example.com/web/incidents/{number}"},
		{"neither", "", "", ""},
		{"a malformed public URL links nothing", "", "firebreak.example.com", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := trackerIncidentURL(&playbooks.Tracker{IncidentURL: tt.configured}, env(tt.public))
			assert.Equal(t, tt.want, got)
		})
	}
}
