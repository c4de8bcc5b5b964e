package incidents

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEffectValidate(t *testing.T) {
	home := Home{Platform: "slack", Channel: "C1"}
	cases := []struct {
		name string
		e    Effect
		err  string // substring; empty: valid
	}{
		{"post", Effect{Kind: EffectPost, Home: home, Message: EffectMessage{Text: "hi"}}, ""},
		{"update", Effect{Kind: EffectUpdate, Home: home, Target: "card/1"}, ""},
		{"upload", Effect{Kind: EffectUpload, Home: home, Message: EffectMessage{File: &EffectFile{Name: "pm.md"}}}, ""},
		{"notify", Effect{Kind: EffectNotify, Notifier: "pager"}, ""},
		{"unknown kind", Effect{Kind: "shout", Home: home}, `"shout" is not one of`},
		{"post without channel", Effect{Kind: EffectPost, Home: Home{Platform: "slack"}}, "no platform or channel"},
		{"notify without notifier", Effect{Kind: EffectNotify}, "names no notifier"},
		{"update without target", Effect{Kind: EffectUpdate, Home: home}, "no Target"},
		{"upload without file", Effect{Kind: EffectUpload, Home: home}, "no file"},
		{"huge key", Effect{Kind: EffectPost, Home: home, Key: strings.Repeat("k", 2000)}, "key is 2000 bytes"},
		{"already delivered", Effect{Kind: EffectPost, Home: home, Status: EffectDelivered}, "must be pending"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.e.Validate()
			if tc.err == "" {
				assert.NoError(t, err)
				return
			}
			if assert.Error(t, err) {
				assert.Contains(t, err.Error(), tc.err)
			}
		})
	}
}

func TestEffectChannel(t *testing.T) {
	assert.Equal(t, "slack/C1", (&Effect{Kind: EffectUpdate, Home: Home{Platform: "slack", Channel: "C1", Thread: "1.2"}}).Channel())
	assert.Equal(t, "notify/pager", (&Effect{Kind: EffectNotify, Notifier: "pager"}).Channel())
}

func TestDecodeEffect(t *testing.T) {
	tests := []struct {
		name    string
		id      uint64
		v       string
		wantErr string
	}{
		{"a record as stores write it", 7, `{"id":7,"kind":"post","home":{"platform":"slack","channel":"C1"},"message":{"text":"hi"}}`, ""},
		{"not JSON", 7, `{"id":7,`, "effect 7:"},
		{"another effect's record", 7, `{"id":8,"kind":"post"}`, "effect 7 is stored as 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := DecodeEffect(tt.id, []byte(tt.v))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "hi", e.Message.Text)
			assert.Equal(t, uint64(7), e.ID)
		})
	}
}
