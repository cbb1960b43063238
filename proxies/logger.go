package proxies

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/racelab/racelab/backends"
)

// LoggerProbeWait is how long one probe of a log reader waits for its
// line before the next probe.
const LoggerProbeWait = 250 * time.Millisecond

// ErrLoggerGone is returned by AwaitLogger when gone closes first.
var ErrLoggerGone = errors.New("log reader or proxy exited")

// AwaitLogger sends GET requests for path to the proxy at addr, each with
// its own request id header, until evidence names one of them: the log
// reader (Bundle.Logger) reads the proxy's log from then on. It gives up
// when ctx ends or gone closes (the reader or the proxy exited).
func AwaitLogger(ctx context.Context, addr, path string, ev *EvidenceLog, gone <-chan struct{}) error {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: LoggerProbeWait}
	defer client.CloseIdleConnections()
	for i := 0; ; i++ {
		id := "racelab-logger-ready-" + strconv.Itoa(i)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
		if err != nil {
			return fmt.Errorf("probe log reader: %w", err)
		}
		req.Header.Set(backends.RequestIDHeader, id)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
		}
		wctx, cancel := context.WithTimeout(ctx, LoggerProbeWait)
		_, err = ev.Wait(wctx, id, "")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-gone:
			return ErrLoggerGone
		default:
		}
		if ctx.Err() != nil {
			return fmt.Errorf("log reader wrote no line for %s: %w", path, ctx.Err())
		}
	}
}
