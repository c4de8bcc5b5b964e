package bot

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFollowUpAndPostmortem(t *testing.T) {
	tests := []struct {
		in   string
		want Command
	}{
		{"/incident followup Alert on pool saturation", Command{Name: "followup", Args: "Alert on pool saturation"}},
		{"/incident followup type:detect Alert on pool saturation @bob", Command{Name: "followup", Type: "detect", Args: "Alert on pool saturation", User: "@bob"}},
		{"/incident followup Alert on pool saturation type:DETECT <@U123|bob>", Command{Name: "followup", Type: "detect", Args: "Alert on pool saturation", User: "<@U123|bob>"}},
		{"/incident #3 followup Write the runbook @ana", Command{Name: "followup", Incident: 3, Args: "Write the runbook", User: "@ana"}},
		{"/incident followup email ops@example.com about it", Command{Name: "followup", Args: "email ops@example.com about it"}},
		{"/incident followup @bob", Command{Name: "followup", Args: "@bob"}},
		{"/incident postmortem", Command{Name: "postmortem"}},
		{"/incident postmortem review", Command{Name: "postmortem", Sub: "review"}},
		{"/incident pm #2 final", Command{Name: "postmortem", Incident: 2, Sub: "final"}},
		{"/incident postmortem in review", Command{Name: "postmortem", Sub: "review"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseCommand(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	for _, bad := range []string{"/incident followup type:someday fix it", "/incident followup type:detect", "/incident postmortem later"} {
		_, err := ParseCommand(bad)
		assert.ErrorIs(t, err, ErrUsage, bad)
	}
}
