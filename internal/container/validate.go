package container

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/racelab/racelab/proxies"
)

// Validate checks the configuration adapter a renders for spec with the
// proxy in image, running the bundle's ValidateArgs (nginx -t, haproxy
// -c) in a one-shot container that is removed afterwards. It returns the
// proxy's output, and an error when the proxy rejects the configuration.
// It lets a config be checked against proxy versions this machine does
// not have installed.
func Validate(ctx context.Context, a proxies.Adapter, spec proxies.Spec, image string, opts ...Option) (output string, err error) {
	p, bundle, err := prepare(a, spec, image, opts)
	defer func() {
		if serr := p.Stop(ctx); serr != nil {
			err = errors.Join(err, serr)
		}
	}()
	if err != nil {
		return "", fmt.Errorf("validate %s config: %w", p.kind(), err)
	}
	if len(bundle.ValidateArgs) == 0 {
		return "", fmt.Errorf("validate %s config: the adapter has no validate arguments", p.kind())
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.startTimeout)
	defer cancel()
	if err := p.launch(ctx, bundle, bundle.ValidateArgs); err != nil {
		return "", fmt.Errorf("validate %s config: %w", p.kind(), err)
	}
	wait := p.cli.ContainerWait(ctx, p.id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	var code int64
	select {
	case res := <-wait.Result:
		if res.Error != nil {
			return "", fmt.Errorf("validate %s config: wait: %s", p.kind(), res.Error.Message)
		}
		code = res.StatusCode
	case err := <-wait.Error:
		return "", fmt.Errorf("validate %s config: wait: %w", p.kind(), err)
	}
	rc, err := p.cli.ContainerLogs(ctx, p.id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return "", fmt.Errorf("validate %s config: logs: %w", p.kind(), err)
	}
	defer rc.Close()
	var out bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &out, rc); err != nil {
		return "", fmt.Errorf("validate %s config: logs: %w", p.kind(), err)
	}
	output = out.String()
	if code != 0 {
		return output, fmt.Errorf("validate %s config: %s %s exited %d: %s", p.kind(), a.Binary(),
			strings.Join(bundle.ValidateArgs, " "), code, strings.TrimSpace(output))
	}
	return output, nil
}
