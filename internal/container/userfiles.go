package container

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/racelab/racelab/proxies"
)

// userFilesDir is where, below the bundle dir, the container gets the
// files of a user's tree that the rendered configuration reads.
const userFilesDir = "tree"

// maxUserFile bounds a file copied from a user's tree into the container.
const maxUserFile = 1 << 20

// absPath finds absolute paths in a rendered configuration: a slash
// after the start, a space, a quote or "(" (HAProxy's "map(/x)"), up to
// a space, quote, ";" or ")".
var absPath = regexp.MustCompile(`(?:^|[\s"'(=])(/[^\s"';(){}]+)`)

// withUserFiles makes a bundle rendered from a user's configuration
// runnable in a container. The rewriter keeps the files the configuration
// reads from the user's tree (an HAProxy errorfile, say) at their host
// paths, which do not exist in the container: each such file becomes a
// bundle file below userFilesDir, the rendered files name it there, and a
// change records the move. Only regular files under the user's root (or
// the configuration's directory without one) are copied; any other path
// is left as written.
func withUserFiles(b *proxies.Bundle, uc *proxies.UserConfig) error {
	if b == nil || uc == nil {
		return nil
	}
	base := uc.Root
	if base == "" {
		base = filepath.Dir(uc.Path)
	}
	base, err := filepath.Abs(base)
	if err != nil {
		return fmt.Errorf("user files: %w", err)
	}
	names := make([]string, 0, len(b.Files))
	for n := range b.Files {
		names = append(names, n)
	}
	slices.Sort(names)
	moved := map[string]string{} // host path → path in the container
	var order []string
	for _, n := range names {
		for _, m := range absPath.FindAllStringSubmatch(directives(b.Files[n]), -1) {
			host := filepath.Clean(m[1])
			if _, done := moved[host]; done || !strings.HasPrefix(host, base+string(filepath.Separator)) {
				continue
			}
			fi, err := os.Stat(host)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			if fi.Size() > maxUserFile {
				return fmt.Errorf("user file %s: %d bytes, more than the %d racelab copies into a container", host, fi.Size(), maxUserFile)
			}
			data, err := os.ReadFile(host)
			if err != nil {
				return fmt.Errorf("user file: %w", err)
			}
			rel, err := filepath.Rel(base, host)
			if err != nil {
				return fmt.Errorf("user file: %w", err)
			}
			inBundle := path.Join(userFilesDir, filepath.ToSlash(rel))
			if _, clash := b.Files[inBundle]; clash {
				return fmt.Errorf("user file %s: bundle already has %s", host, inBundle)
			}
			b.Files[inBundle] = string(data)
			moved[host] = path.Join(b.Dir, inBundle)
			order = append(order, host)
		}
	}
	if len(order) == 0 {
		return nil
	}
	// Longest first, so a path that is a prefix of another is not
	// replaced inside it.
	byLen := slices.Clone(order)
	slices.SortFunc(byLen, func(a, b string) int { return len(b) - len(a) })
	for _, n := range names {
		lines := strings.SplitAfter(b.Files[n], "\n")
		for i, l := range lines {
			if isComment(l) {
				continue
			}
			for _, host := range byLen {
				l = replacePath(l, host, moved[host])
			}
			lines[i] = l
		}
		b.Files[n] = strings.Join(lines, "")
	}
	for _, host := range order {
		b.Changes = append(b.Changes, proxies.Change{
			Directive: "file", Old: host, New: moved[host],
			Why: "the container runtime copies this file of your tree, which the configuration reads, into the container",
		})
	}
	return nil
}

// replacePath replaces host with to in s where host is a whole path: not
// followed by a character that continues a path.
func replacePath(s, host, to string) string {
	var out strings.Builder
	for {
		i := strings.Index(s, host)
		if i < 0 {
			out.WriteString(s)
			return out.String()
		}
		j := i + len(host)
		if j < len(s) && !strings.ContainsRune(" \t\r\n\"';(){}", rune(s[j])) {
			out.WriteString(s[:j])
			s = s[j:]
			continue
		}
		out.WriteString(s[:i])
		out.WriteString(to)
		s = s[j:]
	}
}

// directives is s without its comment lines (nginx and HAProxy both start
// a comment with "#"): a path in racelab's header comment is not read.
func directives(s string) string {
	var out strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if !isComment(l) {
			out.WriteString(l)
		}
	}
	return out.String()
}

func isComment(line string) bool { return strings.HasPrefix(strings.TrimSpace(line), "#") }
