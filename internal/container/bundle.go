package container

import (
	"archive/tar"
	"bytes"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/racelab/racelab/proxies"
)

// File modes of an injected bundle: directories private to the proxy's
// user like the process runtime's, files readable so a proxy that drops
// privileges can still read its configuration.
const (
	bundleDirMode  = 0o700
	bundleFileMode = 0o644
)

// bundleTar packs b as a tar archive to be extracted at "/" in the
// container: b.Dir, every directory in b.Dirs and every file, with their
// parents below b.Dir, owned by uid:gid.
func bundleTar(b *proxies.Bundle, uid, gid int) ([]byte, error) {
	if !path.IsAbs(b.Dir) || path.Clean(b.Dir) != b.Dir || b.Dir == "/" {
		return nil, fmt.Errorf("bundle dir %q: want a clean absolute path below /", b.Dir)
	}
	root := strings.TrimPrefix(b.Dir, "/")

	dirs := map[string]bool{}
	addDir := func(rel string) error {
		p, err := inside(root, rel)
		if err != nil {
			return err
		}
		// Parents above root are created by the engine when it
		// extracts the archive.
		for d := p; d == root || strings.HasPrefix(d, root+"/"); d = path.Dir(d) {
			dirs[d] = true
		}
		return nil
	}
	if err := addDir("."); err != nil {
		return nil, err
	}
	for _, d := range b.Dirs {
		if err := addDir(d); err != nil {
			return nil, err
		}
	}
	files := make([]string, 0, len(b.Files))
	for rel := range b.Files {
		p, err := inside(root, rel)
		if err != nil {
			return nil, err
		}
		if p == root {
			return nil, fmt.Errorf("bundle file %q: names the bundle dir", rel)
		}
		if err := addDir(path.Dir(rel)); err != nil {
			return nil, err
		}
		files = append(files, rel)
	}
	slices.Sort(files)
	dirList := make([]string, 0, len(dirs))
	for d := range dirs {
		dirList = append(dirList, d)
	}
	// Sorted by name, every parent comes before its children.
	slices.Sort(dirList)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Now()
	for _, d := range dirList {
		mode := int64(bundleDirMode)
		if b.ContainerUser != "" {
			// Another user of the image reads the files.
			mode = 0o755
		}
		hdr := &tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode, ModTime: mtime, Uid: uid, Gid: gid}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("pack bundle: %w", err)
		}
	}
	for _, rel := range files {
		p, _ := inside(root, rel)
		content := b.Files[rel]
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: bundleFileMode, Size: int64(len(content)),
			ModTime: mtime, Uid: uid, Gid: gid}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("pack bundle: %w", err)
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			return nil, fmt.Errorf("pack bundle: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("pack bundle: %w", err)
	}
	return buf.Bytes(), nil
}

// inside joins rel to root and refuses paths that leave root.
func inside(root, rel string) (string, error) {
	if path.IsAbs(rel) {
		return "", fmt.Errorf("bundle path %q: want a path relative to the bundle dir", rel)
	}
	p := path.Join(root, rel)
	if p != root && !strings.HasPrefix(p, root+"/") {
		return "", fmt.Errorf("bundle path %q: leaves the bundle dir", rel)
	}
	return p, nil
}
