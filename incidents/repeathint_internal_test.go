package incidents

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRepeatHint(t *testing.T) {
	firing := func(fps ...string) []incomingAlert {
		out := make([]incomingAlert, len(fps))
		for i, fp := range fps {
			out[i] = incomingAlert{fp: fp, firing: true}
		}
		return out
	}
	h := newRepeatHint()
	assert.Equal(t, []bool{false, false, true}, h.recent(firing("a", "b", "a")), "new, new, then a repeat within the batch")
	assert.Equal(t, []bool{true, false}, h.recent(firing("b", "c")))
	resolved := []incomingAlert{{fp: "d"}, {fp: "d", firing: true}}
	assert.Equal(t, []bool{false, false}, h.recent(resolved), "a resolution is not remembered")

	// Two generations: a fingerprint is remembered for at least one whole
	// generation of others, and forgotten after two.
	for i := range repeatHintGeneration {
		h.recent(firing(fmt.Sprintf("x%d", i)))
	}
	assert.Equal(t, []bool{true}, h.recent(firing("c")), "still in the old generation")
	for i := range 2 * repeatHintGeneration {
		h.recent(firing(fmt.Sprintf("y%d", i)))
	}
	assert.Equal(t, []bool{false}, h.recent(firing("a")), "forgotten")
	assert.LessOrEqual(t, len(h.cur)+len(h.old), 2*repeatHintGeneration)
}
