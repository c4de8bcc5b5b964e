package slack

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/slack-go/slack"
)

// maxBody bounds a request from Slack; real ones are a few kilobytes.
const maxBody = 1 << 20

// HTTPHandler serves HTTP mode: POST …/commands, …/interactions and
// …/events (the last path segment decides, so it can be mounted under any
// prefix such as /slack/). Every request's signature is checked over the
// raw body before anything is parsed; a bad or stale one gets 401.
func (a *Adapter) HTTPHandler() http.Handler {
	return http.HandlerFunc(a.serveHTTP)
}

func (a *Adapter) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if a.cfg.SigningSecret == "" {
		http.Error(w, "slack HTTP mode is not configured (SLACK_SIGNING_SECRET)", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "could not read request", http.StatusBadRequest)
		return
	}
	if err := a.verify(r.Header, body); err != nil {
		a.log.Warn("slack: refused a request with a bad signature", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	path := strings.TrimSuffix(r.URL.Path, "/")
	switch path[strings.LastIndex(path, "/")+1:] {
	case "events":
		a.serveEvents(w, r, body)
	case "commands":
		a.serveCommand(w, body)
	case "interactions", "actions":
		a.serveInteraction(w, body)
	default:
		http.NotFound(w, r)
	}
}

// verify checks X-Slack-Signature and the 5-minute timestamp window.
func (a *Adapter) verify(h http.Header, body []byte) error {
	sv, err := slack.NewSecretsVerifier(h, a.cfg.SigningSecret)
	if err != nil {
		return err
	}
	if _, err := sv.Write(body); err != nil {
		return err
	}
	return sv.Ensure()
}

func (a *Adapter) serveEvents(w http.ResponseWriter, r *http.Request, body []byte) {
	var cb callback
	if err := json.Unmarshal(body, &cb); err != nil {
		http.Error(w, "invalid event payload", http.StatusBadRequest)
		return
	}
	if cb.Type == "url_verification" {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, cb.Challenge)
		return
	}
	// Slack redelivers (X-Slack-Retry-Num) when an answer was slow; the
	// first delivery is being handled, so a retry only gets its 200.
	if !a.seen.first("ev:" + cb.EventID) {
		a.log.Debug("slack: redelivered event ignored", "event", cb.EventID, "retry", r.Header.Get("X-Slack-Retry-Num"))
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusOK)
	a.background(func(ctx context.Context) {
		if err := a.handleCallback(ctx, body); err != nil {
			a.log.Warn("slack: could not handle event", "event", cb.EventID, "err", err)
		}
	})
}

func (a *Adapter) serveCommand(w http.ResponseWriter, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "invalid command form", http.StatusBadRequest)
		return
	}
	c := slack.SlashCommand{
		TeamID: form.Get("team_id"), TeamDomain: form.Get("team_domain"), ChannelID: form.Get("channel_id"),
		ChannelName: form.Get("channel_name"), UserID: form.Get("user_id"), UserName: form.Get("user_name"),
		Command: form.Get("command"), Text: form.Get("text"), ResponseURL: form.Get("response_url"),
		TriggerID: form.Get("trigger_id"), APIAppID: form.Get("api_app_id"),
	}
	w.WriteHeader(http.StatusOK)
	a.background(func(ctx context.Context) { a.command(ctx, c) })
}

func (a *Adapter) serveInteraction(w http.ResponseWriter, body []byte) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "invalid interaction form", http.StatusBadRequest)
		return
	}
	var cb slack.InteractionCallback
	if err := json.Unmarshal([]byte(form.Get("payload")), &cb); err != nil {
		http.Error(w, "invalid interaction payload", http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
	a.background(func(ctx context.Context) { a.interaction(ctx, cb) })
}

// background runs the lookups that translate a request after Slack has
// had its answer; they must not hold up the 3-second window.
func (a *Adapter) background(fn func(ctx context.Context)) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), handleTimeout)
		defer cancel()
		fn(ctx)
	}()
}
