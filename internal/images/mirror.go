package images

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
)

// AptDir is where the machine's apt sources live.
const AptDir = "/etc/apt"

// debianSuites are the Debian release codenames and aliases a mirror
// detected from apt sources must carry; suites of other distributions or
// of security, updates and backports archives do not qualify.
var debianSuites = map[string]bool{
	"buzz": true, "rex": true, "bo": true, "hamm": true, "slink": true,
	"potato": true, "woody": true, "sarge": true, "etch": true, "lenny": true,
	"squeeze": true, "wheezy": true, "jessie": true, "stretch": true,
	"buster": true, "bullseye": true, "bookworm": true, "trixie": true,
	"forky": true, "duke": true, "sid": true,
	"oldoldstable": true, "oldstable": true, "stable": true, "testing": true,
	"unstable": true,
}

// EnvMirror names a Debian archive to bootstrap from on machines whose
// apt sources have none (an Ubuntu CI runner, say).
const EnvMirror = "RACELAB_DEBIAN_MIRROR"

// Mirror returns the Debian archive to bootstrap from: $RACELAB_DEBIAN_MIRROR
// when set, else the one the machine's apt sources use: the first http(s)
// URI of an enabled "deb" source whose suites include a Debian release,
// reading sources.list, then sources.list.d/*.list and *.sources (deb822)
// in name order.
func Mirror() (string, error) {
	if m := strings.TrimSpace(os.Getenv(EnvMirror)); m != "" {
		u, err := url.Parse(m)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", fmt.Errorf("detect mirror: %s=%q: want an http(s) URL", EnvMirror, m)
		}
		return strings.TrimRight(m, "/"), nil
	}
	m, err := mirrorFrom(os.DirFS("/"), strings.TrimPrefix(AptDir, "/"))
	if err != nil {
		return "", fmt.Errorf("%w (set %s to a Debian archive URL)", err, EnvMirror)
	}
	return m, nil
}

// source is one apt source: a type, URIs and suites.
type source struct {
	types  []string
	uris   []string
	suites []string
}

func mirrorFrom(fsys fs.FS, aptDir string) (string, error) {
	var files []string
	if _, err := fs.Stat(fsys, path.Join(aptDir, "sources.list")); err == nil {
		files = append(files, path.Join(aptDir, "sources.list"))
	}
	entries, err := fs.ReadDir(fsys, path.Join(aptDir, "sources.list.d"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("detect mirror: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() && (strings.HasSuffix(name, ".list") || strings.HasSuffix(name, ".sources")) {
			files = append(files, path.Join(aptDir, "sources.list.d", name))
		}
	}
	var read []string
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			return "", fmt.Errorf("detect mirror: %w", err)
		}
		read = append(read, "/"+f)
		var srcs []source
		if strings.HasSuffix(f, ".sources") {
			srcs = parseDeb822(string(b))
		} else {
			srcs = parseOneLine(string(b))
		}
		for _, s := range srcs {
			if u := debianMirror(s); u != "" {
				return u, nil
			}
		}
	}
	if len(read) == 0 {
		return "", fmt.Errorf("detect mirror: no apt sources under /%s", aptDir)
	}
	return "", fmt.Errorf("detect mirror: no http(s) Debian archive in %s", strings.Join(read, ", "))
}

// debianMirror returns the first usable URI of s, or "".
func debianMirror(s source) string {
	if !slices.Contains(s.types, "deb") {
		return ""
	}
	debian := false
	for _, suite := range s.suites {
		if debianSuites[suite] {
			debian = true
			break
		}
	}
	if !debian {
		return ""
	}
	for _, raw := range s.uris {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			continue
		}
		return strings.TrimRight(raw, "/")
	}
	return ""
}

// parseOneLine reads the one-line format:
// "deb [option=value ...] uri suite [component ...]".
func parseOneLine(text string) []source {
	var out []source
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) < 3 {
			continue
		}
		typ, rest := fields[0], fields[1:]
		if strings.HasPrefix(rest[0], "[") {
			end := slices.IndexFunc(rest, func(f string) bool { return strings.HasSuffix(f, "]") })
			if end < 0 {
				continue
			}
			rest = rest[end+1:]
		}
		if len(rest) < 2 {
			continue
		}
		out = append(out, source{types: []string{typ}, uris: rest[:1], suites: rest[1:2]})
	}
	return out
}

// parseDeb822 reads the deb822 format: paragraphs of "Field: value"
// lines separated by blank lines; "Enabled: no" turns one off.
func parseDeb822(text string) []source {
	var out []source
	fields := map[string]string{}
	last := ""
	flush := func() {
		if len(fields) > 0 && !strings.EqualFold(strings.TrimSpace(fields["enabled"]), "no") {
			out = append(out, source{
				types:  strings.Fields(fields["types"]),
				uris:   strings.Fields(fields["uris"]),
				suites: strings.Fields(fields["suites"]),
			})
		}
		fields = map[string]string{}
		last = ""
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case strings.HasPrefix(line, "#"):
		case line[0] == ' ' || line[0] == '\t':
			if last != "" {
				fields[last] += " " + strings.TrimSpace(line)
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			last = strings.ToLower(strings.TrimSpace(k))
			fields[last] = strings.TrimSpace(v)
		}
	}
	flush()
	return out
}
