package container

import (
	"maps"
	"os/exec"
	"strconv"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/internal/owner"
)

// SweepGone removes the containers of gone owners only: not a live
// owner's, not an unmarked one, not one an owner in another boot made.
// A dry run lists the same and removes nothing.
func TestSweepGone(t *testing.T) {
	me, err := owner.Self()
	require.NoError(t, err)
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	gone := me
	gone.PID = cmd.Process.Pid // exited and reaped
	recycled := me
	recycled.Start++ // this PID, another process
	foreign := gone
	foreign.Boot = "another-boot"

	labelled := func(m *owner.Mark) map[string]string {
		l := map[string]string{LabelManaged: "true", LabelKind: "nginx"}
		if m != nil {
			maps.Copy(l, m.Labels())
		}
		return l
	}
	api := &fakeContainers{
		items: []container.Summary{
			{ID: "gone", Labels: labelled(&gone), State: "running"},
			{ID: "recycled", Labels: labelled(&recycled), State: "exited"},
			{ID: "live", Labels: labelled(&me), State: "running"},
			{ID: "unmarked", Labels: labelled(nil), State: "running"},
			{ID: "foreign", Labels: labelled(&foreign), State: "running"},
			{ID: "notours", Labels: map[string]string{owner.LabelPID: strconv.Itoa(gone.PID)}, State: "running"},
		},
		gone: map[string]bool{},
	}

	rs, err := sweepGone(t.Context(), api, true)
	require.NoError(t, err)
	assert.Empty(t, api.removeCalls, "dry run")
	want := []string{
		"container gone (nginx, running) of racelab pid " + strconv.Itoa(gone.PID) + ", which is gone",
		"container recycled (nginx, exited) of racelab pid " + strconv.Itoa(me.PID) + ", which is gone",
	}
	assert.Equal(t, want, lines(rs))

	rs, err = sweepGone(t.Context(), api, false)
	require.NoError(t, err)
	assert.Equal(t, []string{"gone", "recycled"}, api.removeCalls)
	assert.Equal(t, want, lines(rs))
}

func lines(rs []owner.Removal) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.String())
	}
	return out
}
