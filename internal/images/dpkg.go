package images

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// installedPackage finds the package that owns the file binary (an
// absolute path such as /usr/sbin/nginx) in a root filesystem and returns
// its name and Debian version, reading dpkg's database directly.
func installedPackage(rootfs fs.FS, binary string) (pkg, version string, err error) {
	infoDir := "var/lib/dpkg/info"
	entries, err := fs.ReadDir(rootfs, infoDir)
	if err != nil {
		return "", "", fmt.Errorf("read dpkg database: %w", err)
	}
	want := []byte(binary)
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".list") {
			continue
		}
		b, err := fs.ReadFile(rootfs, path.Join(infoDir, name))
		if err != nil {
			return "", "", fmt.Errorf("read dpkg database: %w", err)
		}
		if ownsFile(b, want) {
			pkg = strings.TrimSuffix(name, ".list")
			pkg, _, _ = strings.Cut(pkg, ":") // "nginx:amd64"
			break
		}
	}
	if pkg == "" {
		return "", "", fmt.Errorf("no installed package owns %s", binary)
	}
	status, err := fs.ReadFile(rootfs, "var/lib/dpkg/status")
	if err != nil {
		return "", "", fmt.Errorf("read dpkg status: %w", err)
	}
	version, err = statusVersion(status, pkg)
	if err != nil {
		return "", "", err
	}
	return pkg, version, nil
}

// ownsFile reports whether a dpkg .list file names path.
func ownsFile(list, path []byte) bool {
	for line := range bytes.Lines(list) {
		if bytes.Equal(bytes.TrimRight(line, "\n"), path) {
			return true
		}
	}
	return false
}

// statusVersion reads the version of the installed package pkg from a
// dpkg status file: paragraphs of "Field: value" lines.
func statusVersion(status []byte, pkg string) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var name, ver, state string
	installed := func() bool {
		return name == pkg && ver != "" && strings.HasSuffix(state, " installed")
	}
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if installed() {
				return ver, nil
			}
			name, ver, state = "", "", ""
			continue
		}
		if strings.HasPrefix(line, " ") {
			continue // a continuation line
		}
		k, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch k {
		case "Package":
			name = val
		case "Version":
			ver = val
		case "Status":
			state = val
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read dpkg status: %w", err)
	}
	if installed() {
		return ver, nil
	}
	return "", errors.New("package " + pkg + " is not installed")
}
