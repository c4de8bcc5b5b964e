package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHelpListsCommands reproduces issue 12 item 11: `firebreak -h`
// printed "Usage of serve: -console -headless" instead of the commands.
func TestHelpListsCommands(t *testing.T) {
	e := newTestEnv(t)
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-help"}, {"help"}} {
		code, out, errOut := e.run("", args...)
		assert.Equal(t, 0, code, "%v", args)
		assert.Contains(t, out, "usage: firebreak [command] [flags]", "%v", args)
		for _, cmd := range []string{"serve", "check", "incidents", "postmortem", "backup", "version"} {
			assert.Contains(t, out, "\n  "+cmd, "%v lists %s", args, cmd)
		}
		assert.NotContains(t, out+errOut, "Usage of serve")
	}
	// A subcommand's -h shows its own flags under the command list.
	code, _, errOut := e.run("", "incidents", "-h")
	assert.Equal(t, 0, code)
	assert.Contains(t, errOut, "flags of firebreak incidents:")
	assert.Contains(t, errOut, "-json")
}

// TestCheckWithoutArgumentLooksWhereServeDoes reproduces issue 12 item 11:
// `firebreak check` without an argument failed where serve runs on the
// built-in default playbooks.
func TestCheckWithoutArgumentLooksWhereServeDoes(t *testing.T) {
	e := newTestEnv(t)
	delete(e.env, "FIREBREAK_CONFIG")

	code, out, errOut := e.run("", "check")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "playbooks.yaml: ok", "./playbooks.yaml is checked")

	require.NoError(t, os.Remove(filepath.Join(e.dir, "playbooks.yaml")))
	code, out, errOut = e.run("", "check")
	require.Equal(t, 0, code, errOut)
	assert.Contains(t, out, "built-in default playbooks")
	assert.Contains(t, out, "ok")

	// A file named explicitly (argument or FIREBREAK_CONFIG) must exist.
	code, _, _ = e.run("", "check", "missing.yaml")
	assert.Equal(t, 1, code)
	e.env["FIREBREAK_CONFIG"] = filepath.Join(e.dir, "missing.yaml")
	code, _, _ = e.run("", "check")
	assert.Equal(t, 1, code)
}

// TestIncidentsJSONOmitsWhatDidNotHappen reproduces issue 12 item 11:
// `incidents -json` printed "0001-01-01T00:00:00Z" for times that never
// happened and empty objects for actors nobody was.
func TestIncidentsJSONOmitsWhatDidNotHappen(t *testing.T) {
	e := newTestEnv(t)
	code, _, errOut := e.run(alertLine + "\n")
	require.Equal(t, 0, code, errOut)
	code, out, errOut := e.run("", "incidents", "-json")
	require.Equal(t, 0, code, errOut)
	var list []map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &list))
	require.Len(t, list, 1)
	inc := list[0]
	assert.NotContains(t, out, "0001-01-01")
	for _, absent := range []string{"acknowledged_at", "mitigated_at", "resolved_at", "acknowledged_by", "mitigated_by", "resolved_by", "declared_by"} {
		assert.NotContains(t, inc, absent)
	}
	assert.NotContains(t, out, `"by": {}`)
	assert.NotContains(t, out, "{}")
	assert.Contains(t, inc, "opened_at")
	assert.Contains(t, inc, "trigger", "the alert that opened it")
}

// TestIncidentsJSONOfNoneIsAnEmptyList: with no incidents, `incidents
// -json` printed null, which breaks `jq '.[]'` in operators' scripts.
func TestIncidentsJSONOfNoneIsAnEmptyList(t *testing.T) {
	e := newTestEnv(t)
	code, _, errOut := e.run("/incident list\n") // creates the database
	require.Equal(t, 0, code, errOut)
	code, out, errOut := e.run("", "incidents", "-json")
	require.Equal(t, 0, code, errOut)
	assert.Equal(t, "[]\n", out)
	code, out, _ = e.run("", "-h")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "incidents [-all] [-n N] [-json]", "-h lists the flags the README shows")
}

// TestNoFalseTokenWarning reproduces issue 12 item 11: the bot warned
// "FIREBREAK_WEBHOOK_TOKEN is not set" when only the HMAC secret was set,
// which opens intake on its own. The warning stays for neither.
func TestNoFalseTokenWarning(t *testing.T) {
	tests := []struct {
		name   string
		env    map[string]string
		closed bool
	}{
		{"HMAC secret only", map[string]string{"FIREBREAK_WEBHOOK_HMAC_SECRET": "s3cret-hmac"}, false},
		{"token only", map[string]string{"FIREBREAK_WEBHOOK_TOKEN": "t0ken"}, false},
		{"neither", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			addr := freeAddr(t)
			vars := map[string]string{"FIREBREAK_DB": filepath.Join(dir, "firebreak.db"), "FIREBREAK_LISTEN": addr}
			for k, v := range tt.env {
				vars[k] = v
			}
			var logs syncBuffer
			no := false
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, []string{"serve", "-headless"}, environ{getenv: func(k string) string { return vars[k] },
					stdin: strings.NewReader(""), stdout: io.Discard, stderr: &logs, stdinIsTerminal: &no})
			}()
			require.Eventually(t, func() bool {
				resp, err := http.Get("http://" + addr + "/healthz")
				if err == nil {
					resp.Body.Close()
				}
				return err == nil
			}, 10*time.Second, 20*time.Millisecond)
			cancel()
			require.Equal(t, 0, <-done, logs.String())
			assert.NotContains(t, logs.String(), "is not set")
			if tt.closed {
				assert.Contains(t, logs.String(), "alert webhooks are closed")
			} else {
				assert.NotContains(t, logs.String(), "alert webhooks are closed")
			}
		})
	}
}
