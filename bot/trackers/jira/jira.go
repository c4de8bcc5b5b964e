// Package jira files Firebreak follow-ups as Jira Cloud issues through the
// REST API v3 (POST /rest/api/3/issue) and finds them again with JQL
// (POST /rest/api/3/search/jql) by the marker label every issue carries.
package jira

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/firebreak/firebreak/bot/trackers"
)

// Config is a Jira Cloud tracker.
type Config struct {
	// Site is https://YOUR-SITE.atlassian.net.
	Site string
	// Project is the project key ("OPS"); IssueType its issue type name.
	Project, IssueType string
	// Components are component names set on every issue.
	Components []string
	// Email and Token are an Atlassian account and its API token
	// (FIREBREAK_JIRA_EMAIL, FIREBREAK_JIRA_TOKEN), sent as basic auth.
	Email, Token string
	// HTTP carries timeouts and retries; its Auth and Header are set here.
	HTTP trackers.HTTP
}

// Client talks to one Jira project.
type Client struct {
	cfg  Config
	http *trackers.HTTP
}

var _ trackers.Filer = (*Client)(nil)

// New returns a Client; it makes no call.
func New(cfg Config) (*Client, error) {
	if cfg.Email == "" || cfg.Token == "" {
		return nil, fmt.Errorf("jira tracker: FIREBREAK_JIRA_EMAIL and FIREBREAK_JIRA_TOKEN must both be set")
	}
	if cfg.IssueType == "" {
		cfg.IssueType = "Task"
	}
	cfg.Site = strings.TrimRight(cfg.Site, "/")
	h := cfg.HTTP
	email, token := cfg.Email, cfg.Token
	h.Auth = func(r *http.Request) { r.SetBasicAuth(email, token) }
	h.Header = http.Header{"Accept": {"application/json"}, "User-Agent": {"firebreak"}}
	return &Client{cfg: cfg, http: &h}, nil
}

// issue is the part of Jira's issue object Firebreak reads.
type issue struct {
	ID     string `json:"id"`
	Key    string `json:"key"`
	Self   string `json:"self"`
	Fields struct {
		Status struct {
			Name string `json:"name"`
		} `json:"status"`
	} `json:"fields"`
}

func (c *Client) browse(key string) string { return c.cfg.Site + "/browse/" + key }

// Find searches the project for the issue labelled with marker.
func (c *Client) Find(ctx context.Context, marker string) (trackers.Filed, bool, error) {
	req := struct {
		JQL        string   `json:"jql"`
		Fields     []string `json:"fields"`
		MaxResults int      `json:"maxResults"`
	}{
		JQL:        fmt.Sprintf(`project = %q AND labels = %q ORDER BY created ASC`, c.cfg.Project, marker),
		Fields:     []string{"status"},
		MaxResults: 5,
	}
	var out struct {
		Issues        []issue `json:"issues"`
		NextPageToken string  `json:"nextPageToken"`
		IsLast        bool    `json:"isLast"`
	}
	if _, err := c.http.Do(ctx, http.MethodPost, c.cfg.Site+"/rest/api/3/search/jql", req, &out); err != nil {
		return trackers.Filed{}, false, err
	}
	if len(out.Issues) == 0 {
		return trackers.Filed{}, false, nil
	}
	i := out.Issues[0]
	return trackers.Filed{URL: c.browse(i.Key), Key: i.Key, Status: i.Fields.Status.Name, Ref: i.Self}, true, nil
}

// Create files the issue (POST /rest/api/3/issue → 201 {id, key, self}),
// with the description in Atlassian Document Format and the marker as a
// label.
func (c *Client) Create(ctx context.Context, in trackers.Issue) (trackers.Filed, error) {
	type named struct {
		Name string `json:"name"`
	}
	var paras []any
	for _, p := range strings.Split(strings.TrimSpace(in.Body), "\n\n") {
		paras = append(paras, map[string]any{"type": "paragraph", "content": []any{map[string]any{"type": "text", "text": p}}})
	}
	fields := map[string]any{
		"project":     map[string]string{"key": c.cfg.Project},
		"summary":     in.Title,
		"issuetype":   named{c.cfg.IssueType},
		"labels":      append(append([]string(nil), in.Labels...), in.Marker),
		"description": map[string]any{"type": "doc", "version": 1, "content": paras},
	}
	if len(c.cfg.Components) > 0 {
		comps := make([]named, len(c.cfg.Components))
		for i, n := range c.cfg.Components {
			comps[i] = named{n}
		}
		fields["components"] = comps
	}
	var out issue
	if _, err := c.http.Do(ctx, http.MethodPost, c.cfg.Site+"/rest/api/3/issue", map[string]any{"fields": fields}, &out); err != nil {
		return trackers.Filed{}, err
	}
	if out.Key == "" {
		return trackers.Filed{}, fmt.Errorf("jira: the created issue has no key: %w", trackers.ErrPermanent)
	}
	return trackers.Filed{URL: c.browse(out.Key), Key: out.Key, Status: "", Ref: out.Self}, nil
}

// Status reads an issue's status name ("To Do", "Done") from its browse URL.
func (c *Client) Status(ctx context.Context, browseURL string) (string, error) {
	i := strings.LastIndex(browseURL, "/browse/")
	if i < 0 {
		return "", fmt.Errorf("jira: %q is not an issue URL: %w", browseURL, trackers.ErrPermanent)
	}
	key := browseURL[i+len("/browse/"):]
	var out issue
	if _, err := c.http.Do(ctx, http.MethodGet, c.cfg.Site+"/rest/api/3/issue/"+url.PathEscape(key)+"?fields=status", nil, &out); err != nil {
		return "", err
	}
	return out.Fields.Status.Name, nil
}
