package process

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLookVersioned(t *testing.T) {
	gopath := t.TempDir()
	t.Setenv("GOPATH", gopath+string(os.PathListSeparator)+"/elsewhere")
	a := fakeAdapter{}
	dir := filepath.Join(gopath, "racelab-"+a.Binary())
	require.Equal(t, dir, VersionedDir(a))
	put := func(version string, mode os.FileMode) string {
		p := filepath.Join(dir, version, a.Binary())
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"), mode))
		return p
	}
	_, err := LookVersioned(a, "2.11")
	require.ErrorIs(t, err, os.ErrNotExist)

	put("2.11.2", 0o755)
	want := put("2.11.10", 0o755) // numerically the highest 2.11.x
	put("2.12.0", 0o755)
	put("2.11.11", 0o644) // not executable: skipped
	got, err := LookVersioned(a, "2.11")
	require.NoError(t, err)
	require.Equal(t, want, got)

	got, err = LookVersioned(a, "2.11.2")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(dir, "2.11.2", a.Binary()), got)

	_, err = LookVersioned(a, "2.1")
	require.True(t, errors.Is(err, os.ErrNotExist), "2.1 must not match 2.11.x: %v", err)
	_, err = LookVersioned(a, "")
	require.ErrorIs(t, err, os.ErrNotExist)
}
