package cli

import (
	"context"
	"fmt"

	"github.com/racelab/racelab/internal/images"
)

// runImages runs `racelab images COMMAND`: the command word first, then
// its flags, parsed like every other command's.
func runImages(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		images.PrintUsage(e.stderr)
		return ExitUsage
	}
	name := args[0]
	var run func() error
	var bf images.BuildFlags
	synopsis, examples := "images "+name, ""
	switch name {
	case "-h", "-help", "--help", "help":
		images.PrintUsage(e.stdout)
		return ExitOK
	case "build":
		synopsis += " [flags]"
		examples = "  racelab images build\n  racelab images build -suite bookworm\n  racelab images build -suite trixie,sid -force\n"
		run = func() error { return images.RunBuild(ctx, &bf, e.stdout, e.stderr) }
	case "list", "ls":
		examples = "  racelab images list\n"
		run = func() error { return images.PrintList(ctx, e.stdout) }
	case "prune":
		examples = "  racelab images prune\n"
		run = func() error { return images.Prune(ctx, e.stdout) }
	default:
		e.errorf("images: unknown command %q", name)
		fmt.Fprintln(e.stderr, "run 'racelab images -h' for usage")
		return ExitUsage
	}
	fs := newFlagsAbout(e, "images "+name, synopsis, images.About, examples)
	if name == "build" {
		bf.Register(fs)
	}
	if code, ok := parse(e, fs, args[1:]); !ok {
		return code
	}
	if fs.NArg() > 0 {
		e.errorf("images %s: unexpected argument %q", name, fs.Arg(0))
		return ExitUsage
	}
	if name == "build" {
		if _, err := bf.Suites(); err != nil {
			e.errorf("images build: %v", err)
			return ExitUsage
		}
	}
	if err := run(); err != nil {
		e.errorf("images %s: %v", name, err)
		return ExitFail
	}
	return ExitOK
}
