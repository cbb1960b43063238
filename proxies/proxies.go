package proxies

import (
	"context"
	"fmt"
	"os"
	"time"
)

// Kind names a proxy implementation.
type Kind string

const (
	KindGo      Kind = "go"
	KindNginx   Kind = "nginx"
	KindHAProxy Kind = "haproxy"
	KindEnvoy   Kind = "envoy"
)

// Retry is a proxy's retry policy for a failed upstream connection.
type Retry string

const (
	// RetryOff never retries.
	RetryOff Retry = "off"
	// RetryIdempotent retries connection failures for GET, HEAD and OPTIONS only.
	RetryIdempotent Retry = "idempotent"
	// RetryAll retries connection failures for every method, POST included.
	RetryAll Retry = "all"
)

// Runtime is how a proxy runs.
type Runtime string

const (
	RuntimeEmbedded  Runtime = "embedded"  // in this process (kind go only)
	RuntimeProcess   Runtime = "process"   // a binary on PATH, own process group
	RuntimeContainer Runtime = "container" // a container with host networking
)

// Variant selects how much of the pooling and retry configuration the
// rendered config spells out.
type Variant string

const (
	// VariantExplicit renders every pooling, timeout and retry directive.
	VariantExplicit Variant = "explicit"
	// VariantDefaults leaves pooling and retry directives out, so the
	// proxy's own defaults apply: a version that changes a default shows.
	VariantDefaults Variant = "defaults"
)

// Spec is what a proxy must do, independent of how it runs.
type Spec struct {
	Kind Kind
	// Listen is the client-facing address, 127.0.0.1:port.
	Listen string
	// Upstream is the backend address, host:port.
	Upstream string
	// AdminListen is an admin address where the proxy has one (Envoy).
	AdminListen string
	// IdleTimeout is the upstream keep-alive idle timeout (0: the proxy's default).
	IdleTimeout time.Duration
	// ResponseTimeout bounds the wait for an upstream response (0: 5s).
	ResponseTimeout time.Duration
	Retry           Retry
	Variant         Variant
	// Reuse is HAProxy's http-reuse mode: "always" (default) or "safe".
	Reuse string
}

// DefaultResponseTimeout applies when Spec.ResponseTimeout is 0.
const DefaultResponseTimeout = 5 * time.Second

// Validate reports a spec that no adapter can render.
func (s Spec) Validate() error {
	if s.Listen == "" || s.Upstream == "" {
		return fmt.Errorf("spec: listen and upstream addresses are required")
	}
	switch s.Retry {
	case RetryOff, RetryIdempotent, RetryAll:
	default:
		return fmt.Errorf("spec: retry %q: want off, idempotent or all", s.Retry)
	}
	switch s.Variant {
	case "", VariantExplicit, VariantDefaults:
	default:
		return fmt.Errorf("spec: variant %q: want explicit or defaults", s.Variant)
	}
	switch s.Reuse {
	case "", "always", "safe":
	default:
		return fmt.Errorf("spec: reuse %q: want always or safe", s.Reuse)
	}
	if s.IdleTimeout < 0 || s.ResponseTimeout < 0 {
		return fmt.Errorf("spec: timeouts must not be negative")
	}
	return nil
}

// Bundle is a rendered configuration: files to write into a directory and
// the arguments that run the proxy binary on them. Rendering is separate
// from running, so any runtime (process, container) runs any bundle.
type Bundle struct {
	// Dir is the directory the bundle was rendered for; paths inside the
	// files are absolute paths under it.
	Dir string
	// Files maps a path relative to Dir to its content.
	Files map[string]string
	// Dirs lists directories relative to Dir that must exist (mode 0700).
	Dirs []string
	// Args are the arguments after the binary name.
	Args []string
	// ValidateArgs make the binary check the configuration and exit.
	ValidateArgs []string
}

// Adapter knows one proxy: how to render its config, check it, read its
// version and parse its logs. Adapters are stateless values.
type Adapter interface {
	Kind() Kind
	// Binary is the executable name, looked up on PATH or in an image.
	Binary() string
	// Render renders spec for the directory dir.
	Render(spec Spec, dir string) (*Bundle, error)
	// VersionArgs print the version; ParseVersion reads it from the
	// combined output.
	VersionArgs() []string
	ParseVersion(output string) (string, error)
	// ParseLog turns one line of the proxy's stdout or stderr into
	// evidence; ok is false for lines that carry none.
	ParseLog(line string) (ev Evidence, ok bool)
	// StopSignal asks the proxy to stop (the runtime escalates to KILL).
	StopSignal() os.Signal
	// Image is the official image reference for a version, for registries
	// that have it ("nginx:1.26").
	Image(version string) string
}

// Instance is a running proxy, whatever the runtime.
type Instance interface {
	// Addr is the client-facing address.
	Addr() string
	// Version is the proxy's own version string ("1.22.1").
	Version() string
	// Evidence holds what the proxy logged, by request id.
	Evidence() *EvidenceLog
	// Info is manifest facts: binary path, image id, pid, config dir.
	Info() map[string]string
	// Stop stops the proxy and waits for it; idempotent.
	Stop(ctx context.Context) error
}
