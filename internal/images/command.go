package images

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/racelab/racelab/internal/container"
)

// About, Commands and Examples are the help of `racelab images`; the
// racelab CLI parses the flags (BuildFlags) and calls RunBuild, PrintList
// and Prune.
const (
	About = `Builds and manages local proxy images that need no container registry: a
Debian suite bootstrapped with nginx, HAProxy, Caddy, Apache httpd, Varnish
and Squid, imported into the local Docker engine as racelab/proxies:<suite>
and tagged racelab/<proxy>:<version> for each (racelab/nginx:1.22.1,
racelab/apache:2.4.62, ...). An image built with another package set (an
older racelab's) is rebuilt.`
	Commands = `  build   build the images of Debian suites (needs root and debootstrap);
          an image that exists already is reused
  list    list the racelab images in the local engine
  prune   remove every racelab image
`
	Examples = `  racelab images build
  racelab images build -suite bookworm
  racelab images build -suite trixie,sid -force
  racelab images list
  racelab images prune
`
)

// BuildFlags are the flags of `racelab images build`.
type BuildFlags struct {
	suites  string
	force   bool
	mirror  string
	verbose bool
}

// Register defines the flags on fs.
func (f *BuildFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.suites, "suite", strings.Join(DefaultSuites, ","), "comma-separated Debian suites (a `list`)")
	fs.BoolVar(&f.force, "force", false, "rebuild suites whose image exists")
	fs.StringVar(&f.mirror, "mirror", "", "Debian archive `url` (default: $RACELAB_DEBIAN_MIRROR, else the first Debian archive in the machine's apt sources)")
	fs.BoolVar(&f.verbose, "v", false, "copy debootstrap's output to stderr")
}

// Suites returns the suites to build, deduplicated in order; an error is
// a usage error (no suite, or a name that is not a Debian suite).
func (f *BuildFlags) Suites() ([]string, error) {
	var list []string
	for s := range strings.SplitSeq(f.suites, ",") {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(list, s) {
			list = append(list, s)
		}
	}
	if len(list) == 0 {
		return nil, errors.New("-suite names no suite")
	}
	for _, s := range list {
		if !suiteName.MatchString(s) || !debianSuites[s] {
			return nil, fmt.Errorf("-suite: %q is not a Debian suite", s)
		}
	}
	return list, nil
}

// RunBuild builds the suites f names, printing one line per image on
// stdout and build logs on stderr. A failed suite does not stop the
// others; the error joins every failure.
func RunBuild(ctx context.Context, f *BuildFlags, stdout, stderr io.Writer) error {
	list, err := f.Suites()
	if err != nil {
		return err
	}
	if err := container.Available(ctx); err != nil {
		return err
	}
	opts := []Option{WithForce(f.force), WithMirror(f.mirror),
		WithLogger(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))}
	if f.verbose {
		opts = append(opts, WithProgress(stderr))
	}
	present, err := List(ctx)
	if err != nil {
		return err
	}
	reused := map[string]bool{}
	for _, im := range present {
		reused[im.Suite] = !f.force && im.Ref == SuiteRef(im.Suite) && im.Packages == packagesLabel()
	}
	// The suites build at once: a build waits mostly on the Debian
	// archive and on dpkg unpacking, so three take little longer than
	// one. Each line is printed as its suite is ready.
	if len(list) > 1 {
		fmt.Fprintf(stderr, "building %s at once\n", strings.Join(list, ", "))
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for _, suite := range list {
		wg.Go(func() {
			start := time.Now()
			im, err := Build(ctx, suite, opts...)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			how := "built in " + time.Since(start).Round(time.Second).String()
			if reused[suite] {
				how = "reused"
			}
			fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\t%s\t%s\n", im.Suite, im.Ref, shortID(im.ID),
				versionsText(im), formatSize(im.Size), how)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Exit codes of Command: the racelab CLI's own.
const (
	ExitOK    = 0 // success (and -h)
	ExitFail  = 1 // a failed build or engine call
	ExitUsage = 2 // a usage error
)

// Command runs `racelab images ARGS...` (args are the words after
// "images") for programs that embed it, with the racelab CLI's flags,
// help and exit codes: 0 success and -h, 1 a failed build or engine call,
// 2 a usage error.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		PrintUsage(stderr)
		return ExitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		PrintUsage(stdout)
		return ExitOK
	case "build", "list", "ls", "prune":
	default:
		fmt.Fprintf(stderr, "racelab images: unknown command %q\nrun 'racelab images -h' for usage\n", name)
		return ExitUsage
	}
	fs := flag.NewFlagSet("images "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {}
	var bf BuildFlags
	if name == "build" {
		bf.Register(fs)
	}
	err := fs.Parse(args[1:])
	switch {
	case errors.Is(err, flag.ErrHelp):
		PrintSubUsage(stdout, fs)
		return ExitOK
	case err == nil && fs.NArg() > 0:
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
		fmt.Fprintf(stderr, "racelab images %s: %v\n", name, err)
	}
	if err != nil {
		fmt.Fprintf(stderr, "run 'racelab images %s -h' for usage\n", name)
		return ExitUsage
	}
	switch name {
	case "build":
		if _, err := bf.Suites(); err != nil {
			fmt.Fprintf(stderr, "racelab images build: %v\n", err)
			return ExitUsage
		}
		err = RunBuild(ctx, &bf, stdout, stderr)
	case "list", "ls":
		err = PrintList(ctx, stdout)
	case "prune":
		err = Prune(ctx, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "racelab images %s: %v\n", name, err)
		return ExitFail
	}
	return ExitOK
}

// PrintUsage prints the help of `racelab images`.
func PrintUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: racelab images <command> [flags]\n\n%s\n\nCommands:\n%s\nExamples:\n%s", About, Commands, Examples)
}

// PrintSubUsage prints the help of one images command, whose flags are
// registered on fs (named "images build"), in the racelab CLI's shape.
func PrintSubUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: racelab %s [flags]\n\n%s\n\nFlags:\n", fs.Name(), About)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nExamples:\n%s", Examples)
}

// PrintList prints the racelab images in the local engine as a table.
func PrintList(ctx context.Context, stdout io.Writer) error {
	return listCommand(ctx, stdout)
}

// Prune removes every racelab image and prints what the engine untagged
// and deleted.
func Prune(ctx context.Context, stdout io.Writer) error {
	return pruneCommand(ctx, stdout)
}

func listCommand(ctx context.Context, stdout io.Writer) error {
	list, err := List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	head := []string{"SUITE", "REF", "ID"}
	for _, k := range Kinds {
		head = append(head, strings.ToUpper(string(k)))
	}
	head = append(head, "DEBIAN", "SIZE", "CREATED")
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, im := range list {
		row := []string{im.Suite, im.Ref, shortID(im.ID)}
		for _, k := range Kinds {
			row = append(row, cmp.Or(im.Versions[string(k)], "-"))
		}
		row = append(row, im.Debian, formatSize(im.Size), im.Created.UTC().Format(time.DateTime))
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// versionsText names each proxy of an image with its version: "nginx
// 1.22.1 haproxy 2.6.12 caddy 2.6.2 ...", proxies the image lacks left
// out.
func versionsText(im Image) string {
	var parts []string
	for _, k := range Kinds {
		if v := im.Versions[string(k)]; v != "" {
			parts = append(parts, string(k)+" "+v)
		}
	}
	return strings.Join(parts, " ")
}

func pruneCommand(ctx context.Context, stdout io.Writer) error {
	list, err := List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, im := range list {
		done, err := container.RemoveImage(ctx, im.ID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, d := range done {
			fmt.Fprintln(stdout, d)
		}
	}
	return errors.Join(errs...)
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func formatSize(n int64) string {
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
