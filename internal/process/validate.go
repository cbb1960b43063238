package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/racelab/racelab/proxies"
)

// waitDelay bounds how long a short command's output is read after it
// exits or is killed.
const waitDelay = 2 * time.Second

// Validate renders spec for adapter a into a temporary directory and runs
// the binary with the bundle's ValidateArgs. It returns the combined
// output, and an error quoting it when the check fails. The directory is
// removed afterwards unless WithKeep(true). The start timeout bounds the
// check as well as ctx.
func Validate(ctx context.Context, a proxies.Adapter, spec proxies.Spec, opts ...Option) (string, error) {
	o := newOptions(opts)
	out, err := validate(ctx, a, spec, o)
	if err != nil {
		return out, fmt.Errorf("validate %s: %w", a.Kind(), err)
	}
	return out, nil
}

func validate(ctx context.Context, a proxies.Adapter, spec proxies.Spec, o options) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, o.startTimeout)
	defer cancel()
	bin, err := o.binaryFor(a)
	if err != nil {
		return "", err
	}
	dir, b, err := prepare(a, spec)
	if dir != "" {
		defer func() {
			if o.keep {
				o.logger.Info("validate directory kept", "kind", a.Kind(), "dir", dir)
				return
			}
			if rerr := os.RemoveAll(dir); rerr != nil {
				o.logger.Warn("remove validate directory", "dir", dir, "err", rerr)
			}
		}()
	}
	if err != nil {
		return "", err
	}
	if len(b.ValidateArgs) == 0 {
		return "", errors.New("adapter has no validate arguments")
	}
	out, err := run(ctx, bin, b.ValidateArgs, dir, b.Env...)
	// A user's configuration is flattened into one file: say which of
	// the user's files and lines a message is about.
	out = b.MapMessage(out)
	if err != nil {
		return out, fmt.Errorf("%w: %s", err, oneLine(out))
	}
	return out, nil
}

// readVersion runs the adapter's version command and parses its output.
func readVersion(ctx context.Context, a proxies.Adapter, bin string) (string, error) {
	args := a.VersionArgs()
	if len(args) == 0 {
		return "", nil
	}
	out, err := run(ctx, bin, args, "")
	if err != nil {
		return "", fmt.Errorf("version: %w: %s", err, oneLine(out))
	}
	v, err := a.ParseVersion(out)
	if err != nil {
		if fb, ok := a.(proxies.VersionFallback); ok {
			if out2, err2 := run(ctx, bin, fb.FallbackVersionArgs(), ""); err2 == nil {
				if v2, err2 := a.ParseVersion(out2); err2 == nil {
					return v2, nil
				}
			}
		}
		return "", fmt.Errorf("version: %w", err)
	}
	return v, nil
}

// run runs a short command in its own process group and returns its
// combined output. When ctx ends, the whole group is killed.
func run(ctx context.Context, bin string, args []string, dir string, env ...string) (string, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// oneLine squeezes command output into one line for an error message.
func oneLine(out string) string {
	out = strings.TrimSpace(out)
	if out == "" {
		return "no output"
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(out, "\n", " | ")), " ")
}
