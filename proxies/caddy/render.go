package caddy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/racelab/racelab/proxies"
)

// DefaultIdleTimeout is Caddy's upstream keep-alive idle timeout when the
// config sets none (transport http keepalive).
const DefaultIdleTimeout = 2 * time.Minute

// MaxTimeout is the longest idle or response timeout rendered.
const MaxTimeout = 24 * time.Hour

// SyncPath is a path the rendered server answers itself with a 204 and
// logs like any other request, never forwarding it. It is not an evidence
// barrier (Bundle.SyncPath): Caddy serves each client connection on its
// own goroutine, so its access lines are not ordered by when the client
// saw the response.
const SyncPath = "/racelab-sync"

// gracePeriod bounds how long Caddy waits for active client connections
// when it stops; Caddy's own default (0) waits for ever.
const gracePeriod = "500ms"

// idempotentMethods are the methods the idempotent policy retries.
var idempotentMethods = []string{http.MethodGet, http.MethodHead, http.MethodOptions}

// allMethods are the methods the all policy retries.
var allMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodTrace, http.MethodConnect,
}

// Unexpressed phrases: what a spec asks that Caddy cannot do.
const (
	// NoRetryOff is why retry off is not what Caddy does for a GET.
	NoRetryOff = "retry off: Go's HTTP transport under Caddy retries a GET, HEAD or OPTIONS request without a body once by itself when a reused upstream connection dies before any response byte (net/http shouldRetryRequest); Caddy has no setting to turn that off"
)

// Render renders spec into a bundle for dir: caddy.json, a data directory
// for Caddy's storage, and the arguments that run or validate caddy on
// it. Caddy runs with its admin endpoint off and config persistence off,
// so nothing outside dir is written by racelab's config.
func (Adapter) Render(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	if spec.Config != nil {
		b, err := renderUser(spec, dir)
		if err != nil {
			return nil, fmt.Errorf("render caddy: %w", err)
		}
		return b, nil
	}
	b, err := render(spec, dir)
	if err != nil {
		return nil, fmt.Errorf("render caddy: %w", err)
	}
	return b, nil
}

func render(spec proxies.Spec, dir string) (*proxies.Bundle, error) {
	cfg, unexpressed, err := buildConfig(spec, dir)
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	conf := filepath.Join(dir, ConfigName)
	return &proxies.Bundle{
		Dir:          dir,
		Files:        map[string]string{ConfigName: string(out) + "\n"},
		Dirs:         []string{"data"},
		Args:         []string{"run", "--config", conf},
		ValidateArgs: []string{"validate", "--config", conf},
		Unexpressed:  unexpressed,
	}, nil
}

// obj is a JSON object; encoding/json writes its keys sorted, so a
// rendered config is deterministic.
type obj = map[string]any

// buildConfig validates spec and dir, reporting every problem at once,
// and returns Caddy's JSON config and what of spec it cannot express.
func buildConfig(spec proxies.Spec, dir string) (obj, []string, error) {
	var errs []error
	if err := spec.Validate(); err != nil {
		errs = append(errs, err)
	}
	if spec.Kind != "" && spec.Kind != proxies.KindCaddy {
		errs = append(errs, fmt.Errorf("spec kind %q is not caddy", spec.Kind))
	}
	listen, upstream, err := spec.Addrs()
	if err != nil {
		errs = append(errs, err)
	}
	if !filepath.IsAbs(dir) || filepath.Clean(dir) == "/" {
		errs = append(errs, fmt.Errorf("dir %q: want an absolute path below /", dir))
	}
	rt := spec.Response()
	for _, d := range []struct {
		what string
		v    time.Duration
	}{{"idle timeout", spec.IdleTimeout}, {"response timeout", rt}} {
		if d.v > MaxTimeout {
			errs = append(errs, fmt.Errorf("%s %v: longer than %v", d.what, d.v, MaxTimeout))
		}
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}

	transport := obj{
		"protocol":                "http",
		"dial_timeout":            rt.String(),
		"response_header_timeout": rt.String(),
	}
	proxy := obj{
		"handler":   "reverse_proxy",
		"upstreams": []obj{{"dial": upstream.String()}},
		"transport": transport,
	}
	var unexpressed []string
	if spec.Variant != proxies.VariantDefaults {
		ka := obj{"enabled": true, "max_idle_conns_per_host": 1}
		if spec.IdleTimeout > 0 {
			ka["idle_timeout"] = spec.IdleTimeout.String()
		}
		transport["keep_alive"] = ka
		transport["max_conns_per_host"] = 1
		switch spec.Retry {
		case proxies.RetryOff:
			unexpressed = append(unexpressed, NoRetryOff)
		case proxies.RetryIdempotent:
			proxy["load_balancing"] = obj{"retries": 1, "retry_match": []obj{{"method": idempotentMethods}}}
		case proxies.RetryAll:
			proxy["load_balancing"] = obj{"retries": 1, "retry_match": []obj{{"method": allMethods}}}
		}
	}

	dir = filepath.Clean(dir)
	server := obj{
		"listen":          []string{listen.String()},
		"automatic_https": obj{"disable": true},
		// Access logs for every request, to the default logger.
		"logs": obj{},
		"routes": []obj{
			{
				"match":    []obj{{"path": []string{SyncPath}}},
				"handle":   []obj{{"handler": "static_response", "status_code": 204}},
				"terminal": true,
			},
			{"handle": []obj{proxy}},
		},
	}
	cfg := obj{
		"admin": obj{"disabled": true, "config": obj{"persist": false}},
		"storage": obj{
			"module": "file_system",
			"root":   filepath.Join(dir, "data"),
		},
		"logging": obj{"logs": obj{
			// Everything at info to stderr as JSON, except the reverse
			// proxy's own logger, which logs every upstream round trip
			// at debug: "proxy" below.
			"default": obj{
				"writer":  obj{"output": "stderr"},
				"encoder": obj{"format": "json"},
				"level":   "INFO",
				"exclude": []string{reverseProxyLogger},
			},
			"proxy": obj{
				"writer":  obj{"output": "stderr"},
				"encoder": obj{"format": "json"},
				"level":   "DEBUG",
				"include": []string{reverseProxyLogger},
			},
		}},
		"apps": obj{"http": obj{
			"grace_period": gracePeriod,
			"servers":      obj{"racelab": server},
		}},
	}
	return cfg, unexpressed, nil
}

// reverseProxyLogger is the logger of Caddy's reverse_proxy handler.
const reverseProxyLogger = "http.handlers.reverse_proxy"
