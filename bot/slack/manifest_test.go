package slack

import (
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// eventScopes is what Slack requires of an app for each bot event it
// subscribes to (https://api.slack.com/events, "Required scopes"): one of
// the listed scopes must be granted, else Slack refuses the manifest.
// Every event a manifest subscribes to must be listed here.
var eventScopes = map[string][]string{
	"app_mention":           {"app_mentions:read"},
	"message.channels":      {"channels:history"},
	"message.groups":        {"groups:history"},
	"message.im":            {"im:history"},
	"message.mpim":          {"mpim:history"},
	"reaction_added":        {"reactions:read"},
	"reaction_removed":      {"reactions:read"},
	"member_joined_channel": {"channels:read", "groups:read"},
	"channel_created":       {"channels:read"},
	"pin_added":             {"pins:read"},
}

type manifest struct {
	OAuthConfig struct {
		Scopes struct {
			Bot []string `yaml:"bot"`
		} `yaml:"scopes"`
	} `yaml:"oauth_config"`
	Settings struct {
		EventSubscriptions struct {
			BotEvents []string `yaml:"bot_events"`
		} `yaml:"event_subscriptions"`
	} `yaml:"settings"`
}

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// manifestIn returns the Slack app manifest in a Markdown file: the YAML
// block that has an oauth_config.
func manifestIn(t *testing.T, path string) (manifest, string) {
	t.Helper()
	doc, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, m := range yamlBlock.FindAllSubmatch(doc, -1) {
		var mf manifest
		if yaml.Unmarshal(m[1], &mf) == nil && len(mf.OAuthConfig.Scopes.Bot) > 0 {
			return mf, string(m[1])
		}
	}
	t.Fatalf("%s has no Slack app manifest (a yaml block with oauth_config)", path)
	return manifest{}, ""
}

// TestManifestScopesCoverEvents reproduces issue 12 item 10: the manifest
// in README.md and docs/slack.md subscribed to app_mention without
// app_mentions:read, so Slack refused it when a new user pasted it.
func TestManifestScopesCoverEvents(t *testing.T) {
	var texts []string
	for _, path := range []string{"../../README.md", "../../docs/slack.md"} {
		t.Run(path, func(t *testing.T) {
			mf, text := manifestIn(t, path)
			texts = append(texts, text)
			require.NotEmpty(t, mf.Settings.EventSubscriptions.BotEvents)
			for _, ev := range mf.Settings.EventSubscriptions.BotEvents {
				need, known := eventScopes[ev]
				if !assert.True(t, known, "bot event %q: add its required scopes to eventScopes", ev) {
					continue
				}
				assert.True(t, slices.ContainsFunc(need, func(s string) bool { return slices.Contains(mf.OAuthConfig.Scopes.Bot, s) }),
					"bot event %q needs one of the scopes %v", ev, need)
			}
		})
	}
	if len(texts) == 2 {
		assert.Equal(t, texts[0], texts[1], "README.md and docs/slack.md show the same manifest")
	}
}
