package playbooks

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const trackerBase = `alert_channels: ["#alerts"]
playbooks:
  - id: outage
    steps:
      - {id: a, title: A}
postmortem:
  tracker:
`

func TestTrackerConfig(t *testing.T) {
	c, err := Parse("p.yaml", []byte(trackerBase+"    kind: GitHub\n    repository: acme/ops\n    labels: [incident, follow-up]\n"))
	require.NoError(t, err)
	tr := c.Postmortem.Tracker
	require.NotNil(t, tr)
	assert.Equal(t, TrackerGitHub, tr.Kind)
	assert.Equal(t, DefaultGitHubAPI, tr.URL)
	assert.Equal(t, DefaultTrackerTimeout, tr.Timeout.D())

	c, err = Parse("p.yaml", []byte(trackerBase+"    kind: jira\n    url: https://acme.atlassian.net\n    project: OPS\n    components: [SRE]\n    timeout: 5s\n"))
	require.NoError(t, err)
	assert.Equal(t, "Task", c.Postmortem.Tracker.IssueType)
	assert.Equal(t, 5*time.Second, c.Postmortem.Tracker.Timeout.D())

	c, err = Parse("p.yaml", []byte(trackerBase[:len(trackerBase)-len("  tracker:\n")]+"  directory: pm\n"))
	require.NoError(t, err)
	assert.Nil(t, c.Postmortem.Tracker, "no tracker: follow-ups stay in the postmortem")
}

func TestTrackerConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"no kind", "    repository: acme/ops\n", []string{"p.yaml:7: postmortem.tracker.kind: kind is required"}},
		{"unknown kind", "    kind: gitlab\n", []string{"p.yaml:8: postmortem.tracker.kind: unknown tracker kind \"gitlab\""}},
		{"github without repository", "    kind: github\n", []string{"postmortem.tracker.repository: a GitHub tracker needs repository"}},
		{"bad repository", "    kind: github\n    repository: acme\n", []string{"p.yaml:9: postmortem.tracker.repository: \"acme\" is not owner/name"}},
		{"github with jira fields", "    kind: github\n    repository: a/b\n    project: OPS\n", []string{"project, issue_type and components are Jira's"}},
		{"jira without url and project", "    kind: jira\n", []string{"postmortem.tracker.url: a Jira tracker needs url", "postmortem.tracker.project: a Jira tracker needs project"}},
		{"jira bad project and label", "    kind: jira\n    url: https://acme.atlassian.net\n    project: ops\n    labels: [\"two words\"]\n", []string{"p.yaml:10: postmortem.tracker.project: \"ops\" is not a Jira project key", "p.yaml:11: postmortem.tracker.labels[0]"}},
		{"bad url", "    kind: github\n    repository: a/b\n    url: ftp://x\n", []string{"p.yaml:10: postmortem.tracker.url: \"ftp://x\" is not an http:// or https:// URL"}},
		{"bad incident_url", "    kind: github\n    repository: a/b\n    incident_url: nope/{number}\n", []string{"postmortem.tracker.incident_url"}},
		{"timeout too long", "    kind: github\n    repository: a/b\n    timeout: 1h\n", []string{"p.yaml:10: postmortem.tracker.timeout: 1h0m0s is out of range"}},
		{"unknown field", "    kind: github\n    repository: a/b\n    token: xyz\n", []string{"p.yaml:10: postmortem.tracker.token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("p.yaml", []byte(trackerBase+tt.yaml))
			require.Error(t, err)
			var ve *ValidationError
			require.True(t, errors.As(err, &ve), "%v", err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}
