package bot

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/firebreak/firebreak/incidents"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		in   string
		want Command
	}{
		{"/incident ack", Command{Name: "ack"}},
		{"ack", Command{Name: "ack"}},
		{"/incident #4 ack", Command{Name: "ack", Incident: 4}},
		{"ack #4", Command{Name: "ack", Incident: 4}},
		{"", Command{Name: "help"}},
		{"help step", Command{Name: "help", Args: "step"}},
		{"declare Checkout is down SEV2", Command{Name: "declare", Args: "Checkout is down", Severity: incidents.SEV2}},
		{"declare --sev 1 Checkout is down", Command{Name: "declare", Args: "Checkout is down", Severity: incidents.SEV1}},
		{"declare Checkout is down", Command{Name: "declare", Args: "Checkout is down"}},
		{"step done", Command{Name: "step", Sub: "done"}},
		{"step done checked the dashboards", Command{Name: "step", Sub: "done", Args: "checked the dashboards"}},
		{"step done --step rollback rolled back v2", Command{Name: "step", Sub: "done", Step: "rollback", Args: "rolled back v2"}},
		{"#3 step skip status page owned by support", Command{Name: "step", Sub: "skip", Incident: 3, Args: "status page owned by support"}},
		{"step skip #3 not needed", Command{Name: "step", Sub: "skip", Incident: 3, Args: "not needed"}},
		{"note 502s since 14:02\nsecond line", Command{Name: "note", Args: "502s since 14:02\nsecond line"}},
		{"note see #3 for details", Command{Name: "note", Args: "see #3 for details"}},
		{"todo add an alert on pool saturation", Command{Name: "followup", Args: "add an alert on pool saturation"}},
		{"role commander @me", Command{Name: "role", Role: incidents.RoleCommander, User: "@me"}},
		{"role comms <@U123ABC>", Command{Name: "role", Role: incidents.RoleComms, User: "<@U123ABC>"}},
		{"role ic me", Command{Name: "role", Role: incidents.RoleCommander, User: "me"}},
		{"severity SEV1", Command{Name: "severity", Severity: incidents.SEV1}},
		{"sev critical", Command{Name: "severity", Severity: incidents.SEV1}},
		{"update Rolling back; next update 15:00", Command{Name: "update", Args: "Rolling back; next update 15:00"}},
		{"mitigate", Command{Name: "mitigate"}},
		{"resolve", Command{Name: "resolve"}},
		{"resolve rolled back v2.3.1", Command{Name: "resolve", Args: "rolled back v2.3.1"}},
		{"#12 resolve", Command{Name: "resolve", Incident: 12}},
		{"timeline", Command{Name: "timeline"}},
		{"postmortem #2", Command{Name: "postmortem", Incident: 2}},
		{"list", Command{Name: "list"}},
		{"list all", Command{Name: "list", All: true}},
		{"STATUS", Command{Name: "status"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCommand(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseCommandErrors(t *testing.T) {
	tests := []struct{ in, msg string }{
		{"ackk", "did you mean `/incident ack`"},
		{"resolv", "did you mean `/incident resolve`"},
		{"frobnicate", `There is no command "frobnicate". Try ` + "`/incident help`."},
		{"step", "needs done or skip"},
		{"step skip", "skip needs a reason"},
		{"step finished", `not "finished"`},
		{"step done --step", "--step needs a step id"},
		{"note", "needs some text"},
		{"role", "needs a role"},
		{"role boss @me", `"boss" is not a role: use commander, comms or responder.`},
		{"role commander", "needs a person"},
		{"role commander @a @b", "takes one person"},
		{"severity", "needs a severity"},
		{"severity SEV9", `"SEV9" is not a severity: use SEV1, SEV2, SEV3 or SEV4.`},
		{"declare", "needs a title"},
		{"declare SEV2", "needs a title"},
		{"declare Payments down SEV7", `"SEV7" is not a severity`},
		{"ack now please", "takes no text"},
		{"list everything", `takes only "all"`},
		{strings.Repeat("x", MaxCommandLen+1), "the limit is"},
	}
	for _, tt := range tests {
		t.Run(tt.in[:min(len(tt.in), 30)], func(t *testing.T) {
			_, err := ParseCommand(tt.in)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrUsage)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestHelpText(t *testing.T) {
	all := HelpText("")
	for _, u := range usage {
		assert.Contains(t, all, "`/incident "+u.syntax+"`")
	}
	assert.Equal(t, "`/incident ack` — acknowledge: you are on it (stops escalation)", HelpText("ack"))
	assert.Contains(t, HelpText("nope"), "no command")
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"ack", "#4 step done --step x note", "declare a b SEV2", "role commander <@U1>", "step skip #2 why", "", "/incident"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCommand(s)
		if err != nil {
			return
		}
		if c.Name == "" {
			t.Fatal("a parsed command has a name")
		}
		if c.Name == "step" && c.Sub != "done" && c.Sub != "skip" {
			t.Fatalf("step %q", c.Sub)
		}
	})
}
