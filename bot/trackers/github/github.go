// Package github files Firebreak follow-ups as GitHub issues through the
// REST API (POST /repos/{owner}/{repo}/issues) and finds them again by the
// marker in their body.
package github

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/firebreak/firebreak/bot/trackers"
)

// Config is a GitHub tracker.
type Config struct {
	// API is the REST base: https://api.github.com, or
	// https://HOST/api/v3 for GitHub Enterprise Server.
	API string
	// Repository is "owner/name".
	Repository string
	// Token is a fine-grained or classic token with Issues read/write
	// (FIREBREAK_GITHUB_TOKEN).
	Token string
	// HTTP carries timeouts and retries; its Auth and Header are set here.
	HTTP trackers.HTTP
}

// Client talks to one repository's issues.
type Client struct {
	api, repo string
	http      *trackers.HTTP
}

var _ trackers.Filer = (*Client)(nil)

// New returns a Client; it makes no call.
func New(cfg Config) (*Client, error) {
	if cfg.Token == "" {
		return nil, fmt.Errorf("github tracker: FIREBREAK_GITHUB_TOKEN is not set")
	}
	if strings.Count(cfg.Repository, "/") != 1 {
		return nil, fmt.Errorf("github tracker: repository %q is not owner/name", cfg.Repository)
	}
	h := cfg.HTTP
	token := cfg.Token
	h.Auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+token) }
	h.Header = http.Header{
		"Accept":               {"application/vnd.github+json"},
		"X-Github-Api-Version": {"2022-11-28"},
		"User-Agent":           {"firebreak"},
	}
	return &Client{api: strings.TrimRight(cfg.API, "/"), repo: cfg.Repository, http: &h}, nil
}

// issue is the part of GitHub's issue object Firebreak reads.
type issue struct {
	Number      int    `json:"number"`
	HTMLURL     string `json:"html_url"`
	URL         string `json:"url"`
	State       string `json:"state"`
	Body        string `json:"body"`
	PullRequest *struct {
		URL string `json:"url"`
	} `json:"pull_request,omitempty"`
}

func (c *Client) filed(i issue) trackers.Filed {
	return trackers.Filed{URL: i.HTMLURL, Key: c.repo + "#" + strconv.Itoa(i.Number), Status: i.State, Ref: i.URL}
}

// recentScan is how many of the newest issues Find reads before searching:
// the issues list is consistent at once, the search index lags behind.
const recentScan = 100

// Find looks for marker in the bodies of the repository's newest issues
// (consistent right after a create, so a crash just after filing is caught),
// then with the search API (GET /search/issues) for older ones.
func (c *Client) Find(ctx context.Context, marker string) (trackers.Filed, bool, error) {
	var recent []issue
	list := fmt.Sprintf("%s/repos/%s/issues?state=all&sort=created&direction=desc&per_page=%d", c.api, c.repo, recentScan)
	if _, err := c.http.Do(ctx, http.MethodGet, list, nil, &recent); err != nil {
		return trackers.Filed{}, false, err
	}
	for _, i := range recent {
		if i.PullRequest == nil && strings.Contains(i.Body, marker) {
			return c.filed(i), true, nil
		}
	}
	var found struct {
		TotalCount int     `json:"total_count"`
		Items      []issue `json:"items"`
	}
	q := fmt.Sprintf(`"%s" repo:%s is:issue in:body`, marker, c.repo)
	if _, err := c.http.Do(ctx, http.MethodGet, c.api+"/search/issues?q="+url.QueryEscape(q), nil, &found); err != nil {
		return trackers.Filed{}, false, err
	}
	for _, i := range found.Items {
		if strings.Contains(i.Body, marker) {
			return c.filed(i), true, nil
		}
	}
	return trackers.Filed{}, false, nil
}

// Create files the issue (POST /repos/{owner}/{repo}/issues → 201).
func (c *Client) Create(ctx context.Context, in trackers.Issue) (trackers.Filed, error) {
	body := struct {
		Title  string   `json:"title"`
		Body   string   `json:"body"`
		Labels []string `json:"labels,omitempty"`
	}{in.Title, in.Body, in.Labels}
	var out issue
	if _, err := c.http.Do(ctx, http.MethodPost, fmt.Sprintf("%s/repos/%s/issues", c.api, c.repo), body, &out); err != nil {
		return trackers.Filed{}, err
	}
	if out.HTMLURL == "" || out.Number == 0 {
		return trackers.Filed{}, fmt.Errorf("github: the created issue has no number or html_url: %w", trackers.ErrPermanent)
	}
	return c.filed(out), nil
}

// Status reads an issue's state ("open" or "closed") from its html_url.
func (c *Client) Status(ctx context.Context, htmlURL string) (string, error) {
	i := strings.LastIndex(htmlURL, "/issues/")
	if i < 0 {
		return "", fmt.Errorf("github: %q is not an issue URL: %w", htmlURL, trackers.ErrPermanent)
	}
	num := htmlURL[i+len("/issues/"):]
	if _, err := strconv.Atoi(num); err != nil {
		return "", fmt.Errorf("github: %q is not an issue URL: %w", htmlURL, trackers.ErrPermanent)
	}
	var out issue
	if _, err := c.http.Do(ctx, http.MethodGet, fmt.Sprintf("%s/repos/%s/issues/%s", c.api, c.repo, num), nil, &out); err != nil {
		return "", err
	}
	return out.State, nil
}
