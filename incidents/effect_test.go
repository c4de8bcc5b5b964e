package incidents

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
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
