package proxyconf

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// squidLine is one directive of a squid.conf, continuation lines joined.
type squidLine struct {
	Args []string
	Raw  string // the directive as written, continuations joined
	File string
	Line int
}

func (l squidLine) pos() string { return fmt.Sprintf("%s:%d", l.File, l.Line) }

// squidParser reads a squid.conf and its includes into directives.
type squidParser struct {
	fs    FS
	root  string
	files int
	total int
	notes []string
}

func (p *squidParser) display(file string) string {
	if p.root != "" {
		if rel, ok := strings.CutPrefix(file, filepath.Clean(p.root)+"/"); ok {
			return "/" + rel
		}
	}
	return Display(file)
}

// parse reads file, following include lines (globs too) to depth.
// Conditionals are refused: which branch applies depends on the machine.
func (p *squidParser) parse(file string, depth int) ([]squidLine, error) {
	shown := p.display(file)
	if depth > MaxDepth {
		return nil, fmt.Errorf("%s: includes nested deeper than %d", shown, MaxDepth)
	}
	data, err := p.fs.ReadFile(file)
	if err != nil {
		return nil, err
	}
	p.files++
	p.total += len(data)
	if p.files > MaxFiles || p.total > MaxTotalSize {
		return nil, fmt.Errorf("%s: more than %d files or %d bytes", shown, MaxFiles, MaxTotalSize)
	}
	var out []squidLine
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		start := i + 1
		raw := strings.TrimRight(lines[i], "\r")
		for strings.HasSuffix(raw, `\`) && i+1 < len(lines) {
			i++
			raw = strings.TrimSuffix(raw, `\`) + strings.TrimRight(lines[i], "\r")
		}
		raw = strings.TrimSpace(raw)
		if raw == "" || strings.HasPrefix(raw, "#") {
			continue
		}
		l := squidLine{Args: strings.Fields(raw), Raw: raw, File: shown, Line: start}
		switch l.Args[0] {
		case "if", "else", "endif":
			return nil, fmt.Errorf("%s: conditional configuration (%s): which branch applies depends on the machine; racelab does not run it", l.pos(), l.Args[0])
		case "include":
			if len(l.Args) < 2 {
				return nil, fmt.Errorf("%s: include without a file", l.pos())
			}
			for _, pat := range l.Args[1:] {
				pat = strings.Trim(pat, `"`)
				if filepath.IsAbs(pat) {
					pat = filepath.Join(p.root, pat)
				} else {
					pat = filepath.Join(filepath.Dir(file), pat)
				}
				names := []string{pat}
				if HasMeta(pat) {
					if names, err = p.fs.Glob(pat); err != nil {
						return nil, fmt.Errorf("%s: include %s: %w", l.pos(), pat, err)
					}
				}
				if len(names) == 0 {
					p.notes = append(p.notes, fmt.Sprintf("%s: include %s matched no file", l.pos(), p.display(pat)))
				}
				out = append(out, l) // the include itself, listed as inlined
				for _, n := range names {
					inc, err := p.parse(n, depth+1)
					if err != nil {
						if IsNotExist(err) {
							return nil, fmt.Errorf("%s: include %s: not found", l.pos(), p.display(n))
						}
						return nil, err
					}
					out = append(out, inc...)
				}
			}
			continue
		}
		out = append(out, l)
	}
	return out, nil
}

// squidTimeUnits are the time units squid.conf takes for a setting kept
// in whole seconds (time_t), as the idle timeouts are: Squid refuses a
// smaller unit there ("the minimal unit is second").
var squidTimeUnits = map[string]time.Duration{
	"second": time.Second, "minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour,
	"week": 7 * 24 * time.Hour, "fortnight": 14 * 24 * time.Hour,
}

// ParseSquidTime reads a squid.conf time value of a whole-second setting
// (server_idle_pconn_timeout, client_idle_pconn_timeout): a number and a
// unit ("2 minutes", "30 seconds"); a bare number is seconds, as Squid
// reads it. The guard and the run of a user's squid.conf both read it so.
func ParseSquidTime(s string) (time.Duration, error) {
	f := strings.Fields(s)
	if len(f) == 0 || len(f) > 2 {
		return 0, fmt.Errorf("want a number and a unit, like 1 minute")
	}
	n, err := strconv.ParseFloat(f[0], 64)
	if err != nil || n < 0 || n > 1e9 {
		return 0, fmt.Errorf("want a number and a unit, like 1 minute")
	}
	unit := time.Second
	if len(f) == 2 {
		u, ok := squidTimeUnits[strings.TrimSuffix(strings.ToLower(f[1]), "s")]
		if !ok {
			return 0, fmt.Errorf("unit %q: want second, minute, hour, day, week or fortnight", f[1])
		}
		unit = u
	}
	if n*float64(unit) > float64(100*365*24*time.Hour) {
		return 0, fmt.Errorf("longer than a century")
	}
	return time.Duration(n * float64(unit)), nil
}
