package slacktest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// serveUpload is the upload URL handed out by files.getUploadURLExternal:
// a multipart POST with the file in the "file" part.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/upload/")
	call := Call{Method: "upload", Params: url.Values{"file_id": {id}}}
	fail := func(status int, msg string) {
		call.Status = status
		call.Error = msg
		s.record(call)
		http.Error(w, msg, status)
	}
	if r.Method != http.MethodPost {
		fail(http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if f, ok := s.takeFailure("upload"); ok && f.status != 0 {
		fail(f.status, http.StatusText(f.status))
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+BotToken {
		fail(http.StatusUnauthorized, "invalid token")
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		fail(http.StatusBadRequest, "not multipart: "+err.Error())
		return
	}
	var content []byte
	found := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			fail(http.StatusBadRequest, "multipart: "+err.Error())
			return
		}
		if part.FormName() == "file" {
			content, err = io.ReadAll(io.LimitReader(part, 8<<20))
			if err != nil {
				fail(http.StatusBadRequest, "read file part: "+err.Error())
				return
			}
			found = true
		}
	}
	if !found {
		fail(http.StatusBadRequest, "no file part")
		return
	}
	s.mu.Lock()
	f, ok := s.files[id]
	if ok {
		if len(content) != f.Length {
			s.mu.Unlock()
			fail(http.StatusBadRequest, "length does not match files.getUploadURLExternal")
			return
		}
		f.Content = content
		f.Uploaded = true
	}
	s.mu.Unlock()
	if !ok {
		fail(http.StatusNotFound, "unknown upload url")
		return
	}
	call.Body = content
	call.Status = http.StatusOK
	s.record(call)
	_, _ = io.WriteString(w, "OK - "+strconv.Itoa(len(content)))
}

// serveResponseURL records what an app posts to a slash command's or
// button's response_url.
func (s *Server) serveResponseURL(w http.ResponseWriter, r *http.Request) {
	call := Call{Method: "response_url", Params: url.Values{"id": {strings.TrimPrefix(r.URL.Path, "/response/")}}}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || json.Unmarshal(body, &call.JSON) != nil {
		call.Status = http.StatusBadRequest
		s.record(call)
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	call.Status = http.StatusOK
	s.record(call)
	s.replaceEphemeral(call.Params.Get("id"), call.JSON)
	writeJSON(w, map[string]any{"ok": true})
}

// replaceEphemeral applies a replace_original posted to the response URL
// of a press on an ephemeral message: Slack shows the new text and blocks
// in its place (no blocks: no buttons).
func (s *Server) replaceEphemeral(id string, body map[string]any) {
	if replace, _ := body["replace_original"].(bool); !replace {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ts, ok := s.pressedEphemeral[id]
	if !ok {
		return
	}
	for i := range s.ephemerals {
		if e := &s.ephemerals[i]; e.TS == ts {
			e.Text, _ = body["text"].(string)
			e.Blocks = nil
			if b, ok := body["blocks"]; ok && b != nil {
				e.Blocks, _ = json.Marshal(b)
			}
			e.Replaced++
		}
	}
}
