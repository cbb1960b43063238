package images

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/racelab/racelab/internal/container"
	"github.com/racelab/racelab/proxies"
)

// Image references and labels.
const (
	// Repository holds one image per Debian suite, tagged by suite
	// ("racelab/proxies:bookworm").
	Repository = "racelab/proxies"
	// LabelSuite marks a racelab proxy image and names its suite.
	LabelSuite = "racelab.suite"
	// LabelDebian holds the image's /etc/debian_version.
	LabelDebian = "racelab.debian"
	// LabelPackages lists the Debian packages an image was bootstrapped
	// with (Packages, comma separated): an image whose list differs was
	// built by another racelab and is rebuilt, not reused.
	LabelPackages = "racelab.packages"
	// labelVersionPrefix + proxy kind holds that proxy's upstream version
	// ("racelab.nginx=1.22.1").
	labelVersionPrefix = "racelab."
)

// DefaultSuites are the suites `racelab images build` builds by default:
// a ladder of proxy versions (nginx 1.22, 1.26, 1.30; HAProxy 2.6, 3.0,
// 3.2 at the time of writing).
var DefaultSuites = []string{"bookworm", "trixie", "sid"}

// Packages are the Debian packages a racelab image is bootstrapped with.
// The nginx package holds the binary from bookworm on (nginx-light and
// friends add modules on top of it).
var Packages = []string{"nginx", "haproxy", "caddy", "apache2", "varnish", "squid"}

// packagesLabel is the LabelPackages value of an image built now.
func packagesLabel() string { return strings.Join(Packages, ",") }

// Kinds are the proxies a racelab image carries, in the order `racelab
// images` shows them.
var Kinds = []proxies.Kind{
	proxies.KindNginx, proxies.KindHAProxy, proxies.KindCaddy, proxies.KindApache,
	proxies.KindVarnish, proxies.KindSquid,
}

// kindPackages names the Debian package each proxy comes from (the one
// debootstrap installs; apache2-bin holds the binary).
var kindPackages = map[proxies.Kind]string{
	proxies.KindNginx: "nginx", proxies.KindHAProxy: "haproxy", proxies.KindCaddy: "caddy",
	proxies.KindApache: "apache2", proxies.KindVarnish: "varnish", proxies.KindSquid: "squid",
}

// proxyBinaries are the proxies a racelab image carries, by the path of
// their binary in the image; the package that owns it gives the version.
var proxyBinaries = map[proxies.Kind]string{
	proxies.KindNginx:   "/usr/sbin/nginx",
	proxies.KindHAProxy: "/usr/sbin/haproxy",
	proxies.KindCaddy:   "/usr/bin/caddy",
	proxies.KindApache:  "/usr/sbin/apache2",
	proxies.KindVarnish: "/usr/sbin/varnishd",
	proxies.KindSquid:   "/usr/sbin/squid",
}

// Image is a locally built racelab proxy image.
type Image struct {
	Suite string
	// Ref is the suite's reference, racelab/proxies:<suite>.
	Ref string
	ID  string
	// Versions maps a proxy kind to the upstream version inside
	// ("nginx": "1.22.1", "haproxy": "2.6.12", "caddy": "2.6.2", "apache":
	// "2.4.62", "varnish": "7.1.1", "squid": "5.7").
	Versions map[string]string
	// Packages is the image's LabelPackages: the Debian packages it was
	// bootstrapped with.
	Packages string
	// Tags are all the image's references, racelab/<kind>:<version>
	// among them.
	Tags    []string
	Debian  string
	Size    int64
	Created time.Time
}

// SuiteRef is the reference of a suite's image.
func SuiteRef(suite string) string { return Repository + ":" + suite }

// KindRef is the per-proxy reference of a racelab image
// ("racelab/nginx:1.22.1").
func KindRef(kind proxies.Kind, version string) string {
	return "racelab/" + string(kind) + ":" + version
}

func imageFrom(s container.ImageSummary) Image {
	im := Image{
		Suite:    s.Labels[LabelSuite],
		ID:       s.ID,
		Versions: map[string]string{},
		Tags:     slices.Clone(s.Tags),
		Debian:   s.Labels[LabelDebian],
		Packages: s.Labels[LabelPackages],
		Size:     s.Size,
		Created:  s.Created,
	}
	slices.Sort(im.Tags)
	im.Ref = SuiteRef(im.Suite)
	if !slices.Contains(s.Tags, im.Ref) {
		im.Ref = s.ID // the suite tag moved to a newer build
	}
	for kind := range proxyBinaries {
		if v := s.Labels[labelVersionPrefix+string(kind)]; v != "" {
			im.Versions[string(kind)] = v
		}
	}
	return im
}

// List returns the racelab images in the local engine, in suite order
// (DefaultSuites first).
func List(ctx context.Context) ([]Image, error) {
	sums, err := container.ListImages(ctx, LabelSuite)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := make([]Image, 0, len(sums))
	for _, s := range sums {
		out = append(out, imageFrom(s))
	}
	sortImages(out)
	return out, nil
}

func sortImages(ims []Image) {
	rank := func(suite string) int {
		if i := slices.Index(DefaultSuites, suite); i >= 0 {
			return i
		}
		return len(DefaultSuites)
	}
	slices.SortStableFunc(ims, func(a, b Image) int {
		return cmp.Or(cmp.Compare(rank(a.Suite), rank(b.Suite)), strings.Compare(a.Suite, b.Suite),
			b.Created.Compare(a.Created))
	})
}

// Resolve picks the image for a proxy kind and version: a local racelab
// image whose proxy version matches (version "" takes the newest; "1.26"
// takes 1.26.x), else the official image where a registry has it
// (nginx:<version>, haproxy:<version>, envoyproxy/envoy:v<version>).
// local reports whether the reference is a local racelab image.
func Resolve(ctx context.Context, kind proxies.Kind, version string) (ref string, local bool, err error) {
	var list []Image
	if _, ok := proxyBinaries[kind]; ok {
		if list, err = List(ctx); err != nil {
			return "", false, fmt.Errorf("resolve %s image: %w", kind, err)
		}
	}
	return resolve(list, kind, version)
}

// resolve is Resolve over a given list of local images.
func resolve(list []Image, kind proxies.Kind, version string) (string, bool, error) {
	var best *Image
	var bestVersion string
	for i := range list {
		v := list[i].Versions[string(kind)]
		if v == "" || !matchVersion(v, version) {
			continue
		}
		if best == nil || compareVersions(v, bestVersion) > 0 {
			best, bestVersion = &list[i], v
		}
	}
	if best != nil {
		if ref := KindRef(kind, bestVersion); slices.Contains(best.Tags, ref) {
			return ref, true, nil
		}
		return best.Ref, true, nil
	}
	ref, err := OfficialRef(kind, version)
	if err != nil {
		return "", false, err
	}
	return ref, false, nil
}

// OfficialRef is the official registry image of a proxy kind and version.
// An empty version takes nginx:latest or haproxy:latest; Envoy publishes
// no such tag and needs a version.
func OfficialRef(kind proxies.Kind, version string) (string, error) {
	version = strings.TrimPrefix(version, "v")
	switch kind {
	case proxies.KindNginx, proxies.KindHAProxy:
		if version == "" {
			version = "latest"
		}
		return string(kind) + ":" + version, nil
	case proxies.KindCaddy:
		if version == "" {
			version = "2"
		}
		return "caddy:" + version, nil
	case proxies.KindEnvoy:
		if version == "" {
			return "", fmt.Errorf("resolve envoy image: no local image exists; give a version for envoyproxy/envoy:v<version>")
		}
		if strings.Count(version, ".") == 1 {
			return "envoyproxy/envoy:v" + version + "-latest", nil
		}
		return "envoyproxy/envoy:v" + version, nil
	}
	return "", fmt.Errorf("resolve %s image: kind %q has no image", kind, kind)
}

// Option configures Build.
type Option func(*buildOptions)

type buildOptions struct {
	mirror   string
	force    bool
	logger   *slog.Logger
	progress io.Writer
}

// WithMirror sets the Debian archive to bootstrap from instead of the one
// in the machine's apt sources.
func WithMirror(url string) Option { return func(o *buildOptions) { o.mirror = url } }

// WithForce rebuilds a suite whose image exists already.
func WithForce(force bool) Option { return func(o *buildOptions) { o.force = force } }

// WithLogger logs build steps. Logging is off by default.
func WithLogger(l *slog.Logger) Option {
	return func(o *buildOptions) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithProgress copies debootstrap's output to w as it runs.
func WithProgress(w io.Writer) Option { return func(o *buildOptions) { o.progress = w } }
