// Package trackertest has loopback fakes of the GitHub REST API and the
// Jira Cloud REST API v3, speaking their request and response shapes, for
// tests of the tracker filers end to end. Each keeps its issues in memory
// and can be told to answer with errors (401, 403, 404, 422, 429 with
// Retry-After) or to crash-test a client by sending a 201 whose body never
// arrives.
package trackertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Fault is an error answer a fake gives to the next requests.
type Fault struct {
	Status     int
	RetryAfter string // Retry-After header value, if any
	Times      int    // how many requests get it (0 = 1)
	Body       string // JSON error body; a typical one when empty
}

// Issue is a stored issue.
type Issue struct {
	Number int
	Key    string
	Title  string
	Body   string
	Labels []string
	State  string
	// Components are Jira's component names.
	Components []string
}

// fake is what both fakes share.
type fake struct {
	t      testing.TB
	Server *httptest.Server

	mu     sync.Mutex
	issues []Issue
	faults []Fault
	// hang, when set, makes the next create store the issue, send the
	// 201 header and then hold the body until the client goes away.
	hang     chan struct{}
	requests []string
}

func (f *fake) fault(w http.ResponseWriter, r *http.Request) bool {
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	if len(f.faults) == 0 {
		f.mu.Unlock()
		return false
	}
	ft := &f.faults[0]
	st, ra, body := ft.Status, ft.RetryAfter, ft.Body
	if ft.Times <= 1 {
		f.faults = f.faults[1:]
	} else {
		ft.Times--
	}
	f.mu.Unlock()
	if ra != "" {
		w.Header().Set("Retry-After", ra)
	}
	if body == "" {
		body = fmt.Sprintf(`{"message": %q, "errorMessages": [%q]}`, http.StatusText(st), http.StatusText(st))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(st)
	_, _ = w.Write([]byte(body))
	return true
}

// Fail queues error answers for the next requests, in order.
func (f *fake) Fail(faults ...Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, faults...)
}

// HangNextCreate makes the next create store the issue and send "201
// Created" but never the body; the returned channel is closed once the
// 201 header has been sent, so a test can kill the client then.
func (f *fake) HangNextCreate() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hang = make(chan struct{})
	return f.hang
}

// Issues returns a copy of the stored issues.
func (f *fake) Issues() []Issue {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Issue(nil), f.issues...)
}

// SetState changes an issue's state (GitHub "open"/"closed", Jira status).
func (f *fake) SetState(i int, state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.issues[i].State = state
}

// Requests lists "METHOD /path" of every request so far.
func (f *fake) Requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

// created answers a create: normally, or as a crash test asked.
func (f *fake) created(w http.ResponseWriter, r *http.Request, body any) {
	f.mu.Lock()
	hang := f.hang
	f.hang = nil
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	if hang != nil {
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		close(hang)
		<-r.Context().Done() // the client died holding a 201 and no body
		return
	}
	_ = json.NewEncoder(w).Encode(body)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// GitHub is a fake of the GitHub REST API for one repository.
type GitHub struct {
	fake
	Repo, Token string
}

// NewGitHub starts a fake GitHub on 127.0.0.1 serving repository repo to
// requests bearing token; it stops when the test ends.
func NewGitHub(t testing.TB, repo, token string) *GitHub {
	g := &GitHub{fake: fake{t: t}, Repo: repo, Token: token}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /repos/{owner}/{repo}/issues", g.create)
	mux.HandleFunc("GET /repos/{owner}/{repo}/issues", g.list)
	mux.HandleFunc("GET /repos/{owner}/{repo}/issues/{number}", g.get)
	mux.HandleFunc("GET /search/issues", g.search)
	g.Server = httptest.NewServer(g.auth(mux))
	t.Cleanup(g.Server.Close)
	return g
}

func (g *GitHub) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.fault(w, r) {
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+g.Token {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
			return
		}
		if p := r.PathValue("owner"); p != "" || strings.HasPrefix(r.URL.Path, "/repos/") {
			parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/repos/"), "/", 3)
			if len(parts) < 2 || parts[0]+"/"+parts[1] != g.Repo {
				writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (g *GitHub) json(i Issue) map[string]any {
	return map[string]any{
		"id": 1000 + i.Number, "number": i.Number, "title": i.Title, "body": i.Body, "state": i.State,
		"html_url": fmt.Sprintf("%s/%s/issues/%d", g.Server.URL, g.Repo, i.Number),
		"url":      fmt.Sprintf("%s/repos/%s/issues/%d", g.Server.URL, g.Repo, i.Number),
		"labels":   labelsJSON(i.Labels),
	}
}

func labelsJSON(l []string) []map[string]string {
	out := make([]map[string]string, len(l))
	for i, n := range l {
		out[i] = map[string]string{"name": n}
	}
	return out
}

func (g *GitHub) create(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Title  string   `json:"title"`
		Body   string   `json:"body"`
		Labels []string `json:"labels"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Problems parsing JSON"})
		return
	}
	if strings.TrimSpace(in.Title) == "" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed",
			"errors": []map[string]string{{"resource": "Issue", "field": "title", "code": "missing_field"}}})
		return
	}
	g.mu.Lock()
	i := Issue{Number: len(g.issues) + 1, Title: in.Title, Body: in.Body, Labels: in.Labels, State: "open"}
	g.issues = append(g.issues, i)
	g.mu.Unlock()
	g.created(w, r, g.json(i))
}

func (g *GitHub) list(w http.ResponseWriter, r *http.Request) {
	perPage, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if perPage <= 0 || perPage > 100 {
		perPage = 30
	}
	g.mu.Lock()
	var out []map[string]any
	for k := len(g.issues) - 1; k >= 0 && len(out) < perPage; k-- { // newest first
		out = append(out, g.json(g.issues[k]))
	}
	g.mu.Unlock()
	if out == nil {
		out = []map[string]any{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (g *GitHub) get(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.PathValue("number"))
	g.mu.Lock()
	defer g.mu.Unlock()
	if n < 1 || n > len(g.issues) {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
		return
	}
	writeJSON(w, http.StatusOK, g.json(g.issues[n-1]))
}

// search understands the query Firebreak sends: a quoted phrase that must
// appear in the body, plus qualifiers.
func (g *GitHub) search(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("q")
	if q == "" {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"message": "Validation Failed", "errors": []map[string]string{{"resource": "Search", "field": "q", "code": "missing"}}})
		return
	}
	phrase := ""
	if a := strings.Index(q, `"`); a >= 0 {
		if b := strings.Index(q[a+1:], `"`); b >= 0 {
			phrase = q[a+1 : a+1+b]
		}
	}
	g.mu.Lock()
	items := []map[string]any{}
	for _, i := range g.issues {
		if phrase != "" && strings.Contains(i.Body, phrase) {
			items = append(items, g.json(i))
		}
	}
	g.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(items), "incomplete_results": false, "items": items})
}

// Jira is a fake of the Jira Cloud REST API v3 for one project.
type Jira struct {
	fake
	Project, Email, Token string
}

// NewJira starts a fake Jira Cloud site on 127.0.0.1 with one project,
// accepting basic auth email:token; it stops when the test ends.
func NewJira(t testing.TB, project, email, token string) *Jira {
	j := &Jira{fake: fake{t: t}, Project: project, Email: email, Token: token}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /rest/api/3/issue", j.create)
	mux.HandleFunc("GET /rest/api/3/issue/{key}", j.get)
	mux.HandleFunc("POST /rest/api/3/search/jql", j.search)
	j.Server = httptest.NewServer(j.auth(mux))
	t.Cleanup(j.Server.Close)
	return j
}

func (j *Jira) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if j.fault(w, r) {
			return
		}
		u, p, ok := r.BasicAuth()
		if !ok || u != j.Email || p != j.Token {
			w.Header().Set("WWW-Authenticate", `Basic realm="protected-area"`)
			writeJSON(w, http.StatusUnauthorized, map[string]any{"errorMessages": []string{"Client must be authenticated to access this resource."}, "errors": map[string]string{}})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (j *Jira) issueJSON(i Issue) map[string]any {
	return map[string]any{
		"id": strconv.Itoa(10000 + i.Number), "key": i.Key,
		"self":   fmt.Sprintf("%s/rest/api/3/issue/%d", j.Server.URL, 10000+i.Number),
		"fields": map[string]any{"summary": i.Title, "labels": i.Labels, "status": map[string]any{"name": i.State, "statusCategory": map[string]string{"key": "new"}}},
	}
}

func (j *Jira) create(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Fields struct {
			Project struct {
				Key string `json:"key"`
			} `json:"project"`
			Summary   string `json:"summary"`
			IssueType struct {
				Name string `json:"name"`
			} `json:"issuetype"`
			Labels      []string `json:"labels"`
			Description struct {
				Type    string `json:"type"`
				Version int    `json:"version"`
				Content []struct {
					Type    string `json:"type"`
					Content []struct {
						Type string `json:"type"`
						Text string `json:"text"`
					} `json:"content"`
				} `json:"content"`
			} `json:"description"`
			Components []struct {
				Name string `json:"name"`
			} `json:"components"`
		} `json:"fields"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errorMessages": []string{"Invalid request payload. Refer to the REST API documentation and try again."}})
		return
	}
	f := in.Fields
	errs := map[string]string{}
	if f.Project.Key != j.Project {
		errs["project"] = "valid project is required"
	}
	if strings.TrimSpace(f.Summary) == "" {
		errs["summary"] = "You must specify a summary of the issue."
	}
	if f.IssueType.Name == "" {
		errs["issuetype"] = "valid issue type is required"
	}
	if f.Description.Type != "doc" || f.Description.Version != 1 {
		errs["description"] = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
	}
	for _, l := range f.Labels {
		if strings.ContainsAny(l, " \t") {
			errs["labels"] = "The label '" + l + "' contains spaces which is invalid."
		}
	}
	if len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errorMessages": []string{}, "errors": errs})
		return
	}
	var body strings.Builder
	for _, p := range f.Description.Content {
		for _, c := range p.Content {
			body.WriteString(c.Text)
		}
		body.WriteString("\n\n")
	}
	var comps []string
	for _, c := range f.Components {
		comps = append(comps, c.Name)
	}
	j.mu.Lock()
	n := len(j.issues) + 1
	i := Issue{Number: n, Key: fmt.Sprintf("%s-%d", j.Project, n), Title: f.Summary, Body: body.String(), Labels: f.Labels, State: "To Do", Components: comps}
	j.issues = append(j.issues, i)
	j.mu.Unlock()
	j.created(w, r, map[string]string{"id": strconv.Itoa(10000 + n), "key": i.Key, "self": fmt.Sprintf("%s/rest/api/3/issue/%d", j.Server.URL, 10000+n)})
}

func (j *Jira) get(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, i := range j.issues {
		if i.Key == key {
			writeJSON(w, http.StatusOK, j.issueJSON(i))
			return
		}
	}
	writeJSON(w, http.StatusNotFound, map[string]any{"errorMessages": []string{"Issue does not exist or you do not have permission to see it."}, "errors": map[string]string{}})
}

// search understands the JQL Firebreak sends:
// project = "KEY" AND labels = "marker" [ORDER BY …].
func (j *Jira) search(w http.ResponseWriter, r *http.Request) {
	var in struct {
		JQL        string   `json:"jql"`
		Fields     []string `json:"fields"`
		MaxResults int      `json:"maxResults"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.JQL == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errorMessages": []string{"Invalid request payload. Refer to the REST API documentation and try again."}})
		return
	}
	label := ""
	if _, rest, ok := strings.Cut(in.JQL, "labels = "); ok {
		if s, err := strconv.QuotedPrefix(rest); err == nil {
			label, _ = strconv.Unquote(s)
		}
	}
	if !strings.Contains(in.JQL, fmt.Sprintf("project = %q", j.Project)) {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errorMessages": []string{"The value '…' does not exist for the field 'project'."}})
		return
	}
	j.mu.Lock()
	issues := []map[string]any{}
	for _, i := range j.issues {
		for _, l := range i.Labels {
			if l == label {
				issues = append(issues, j.issueJSON(i))
				break
			}
		}
	}
	j.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"issues": issues, "isLast": true})
}
