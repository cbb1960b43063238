package images

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/racelab/racelab/proxies/container"
)

const usage = `Usage: racelab images <command> [flags]

Builds and manages local proxy images that need no container registry: a
Debian suite bootstrapped with nginx and HAProxy, imported into the local
Docker engine as racelab/proxies:<suite> and tagged
racelab/nginx:<version> and racelab/haproxy:<version>.

Commands:
  build   build the images of Debian suites (needs root and debootstrap);
          an image that exists already is reused
  list    list the racelab images in the local engine
  prune   remove every racelab image

Flags of build:
  -suite list   comma-separated suites (default bookworm,trixie,sid)
  -force        rebuild suites whose image exists
  -mirror url   Debian archive (default: $RACELAB_DEBIAN_MIRROR, else the
                first Debian archive in the machine's apt sources)
  -v            copy debootstrap's output to stderr

Examples:
  racelab images build
  racelab images build -suite bookworm
  racelab images build -suite trixie,sid -force
  racelab images list
  racelab images prune
`

// Command runs `racelab images`; args are the words after "images". It
// returns the exit code: 0 success (and -h), 1 a failed build or engine
// call, 2 a usage error.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "build":
		return buildCommand(ctx, args[1:], stdout, stderr)
	case "list", "ls":
		return simpleCommand(ctx, args, stdout, stderr, listCommand)
	case "prune":
		return simpleCommand(ctx, args, stdout, stderr, pruneCommand)
	}
	fmt.Fprintf(stderr, "racelab images: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// newFlags returns a flag set that reports errors without exiting.
func newFlags(name string, stdout, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("racelab images "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {} // parse prints usage for -h, a hint otherwise
	return fs
}

// parse parses args; done is true with the exit code when the command
// must stop (help or a usage error).
func parse(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (code int, done bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		return 0, true
	case err != nil:
		fmt.Fprintln(stderr, "run 'racelab images -h' for usage")
		return 2, true
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return 2, true
	}
	return 0, false
}

func buildCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("build", stdout, stderr)
	suites := fs.String("suite", strings.Join(DefaultSuites, ","), "comma-separated Debian suites")
	force := fs.Bool("force", false, "rebuild suites whose image exists")
	mirror := fs.String("mirror", "", "Debian archive URL (default: $RACELAB_DEBIAN_MIRROR, else from apt sources)")
	verbose := fs.Bool("v", false, "copy debootstrap's output to stderr")
	if code, done := parse(fs, args, stdout, stderr); done {
		return code
	}
	var list []string
	for s := range strings.SplitSeq(*suites, ",") {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(list, s) {
			list = append(list, s)
		}
	}
	if len(list) == 0 {
		fmt.Fprintln(stderr, "racelab images build: -suite names no suite")
		return 2
	}
	for _, s := range list {
		if !suiteName.MatchString(s) || !debianSuites[s] {
			fmt.Fprintf(stderr, "racelab images build: %q is not a Debian suite\n", s)
			return 2
		}
	}
	if err := container.Available(ctx); err != nil {
		fmt.Fprintf(stderr, "racelab images build: %v\n", err)
		return 1
	}
	opts := []Option{WithForce(*force), WithMirror(*mirror),
		WithLogger(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))}
	if *verbose {
		opts = append(opts, WithProgress(stderr))
	}
	present, err := List(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "racelab images build: %v\n", err)
		return 1
	}
	reused := map[string]bool{}
	for _, im := range present {
		reused[im.Suite] = !*force && im.Ref == SuiteRef(im.Suite)
	}
	code := 0
	for _, suite := range list {
		start := time.Now()
		im, err := Build(ctx, suite, opts...)
		if err != nil {
			fmt.Fprintf(stderr, "racelab images build: %v\n", err)
			code = 1
			if ctx.Err() != nil {
				break
			}
			continue
		}
		how := "built in " + time.Since(start).Round(time.Second).String()
		if reused[suite] {
			how = "reused"
		}
		fmt.Fprintf(stdout, "%s\t%s\t%s\tnginx %s\thaproxy %s\t%s\t%s\n", im.Suite, im.Ref, shortID(im.ID),
			im.Versions["nginx"], im.Versions["haproxy"], formatSize(im.Size), how)
	}
	return code
}

func simpleCommand(ctx context.Context, args []string, stdout, stderr io.Writer,
	run func(context.Context, io.Writer) error) int {
	fs := newFlags(args[0], stdout, stderr)
	if code, done := parse(fs, args[1:], stdout, stderr); done {
		return code
	}
	if err := run(ctx, stdout); err != nil {
		fmt.Fprintf(stderr, "racelab images %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func listCommand(ctx context.Context, stdout io.Writer) error {
	list, err := List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SUITE\tREF\tID\tNGINX\tHAPROXY\tDEBIAN\tSIZE\tCREATED")
	for _, im := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", im.Suite, im.Ref, shortID(im.ID),
			im.Versions["nginx"], im.Versions["haproxy"], im.Debian, formatSize(im.Size),
			im.Created.UTC().Format(time.DateTime))
	}
	return tw.Flush()
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
