package images

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/racelab/racelab/proxies"
)

func TestMirrorFrom(t *testing.T) {
	tests := []struct {
		dir     string
		want    string
		wantErr string
	}{
		// deb822: the nodesource file sorts first but its suite is not
		// Debian; the disabled .list file is not read.
		{dir: "bookworm-deb822", want: "http://deb.debian.org/debian"},
		// one-line: comments, deb-src, a non-Debian suite, the security
		// archive and a file: URI are skipped; options in brackets with
		// spaces are skipped over.
		{dir: "oneline", want: "https://mirror.example.org/debian"},
		// deb822: Enabled: no is skipped; multi-line URIs take the first.
		{dir: "disabled", want: "http://mirror.one.example/debian"},
		{dir: "security-only", wantErr: "no http(s) Debian archive in /apt/security-only/sources.list, /apt/security-only/sources.list.d/ubuntu.sources"},
		{dir: "none", wantErr: "no apt sources under /apt/none"},
	}
	fsys := os.DirFS("testdata")
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			got, err := mirrorFrom(fsys, "apt/"+tt.dir)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestMirrorFromEnv(t *testing.T) {
	t.Setenv(EnvMirror, "https://mirror.example.net/debian/")
	got, err := Mirror()
	require.NoError(t, err)
	assert.Equal(t, "https://mirror.example.net/debian", got)

	t.Setenv(EnvMirror, "ftp://mirror.example.net/debian")
	_, err = Mirror()
	assert.ErrorContains(t, err, "want an http(s) URL")
}

func TestMirrorFromThisMachine(t *testing.T) {
	t.Setenv(EnvMirror, "")
	if _, err := os.Stat(AptDir); err != nil {
		t.Skipf("no %s on this machine", AptDir)
	}
	got, err := Mirror()
	if err != nil {
		t.Skipf("this machine's apt sources name no Debian archive: %v", err)
	}
	assert.Regexp(t, `^https?://[^/]+`, got)
}

func TestUpstreamVersion(t *testing.T) {
	tests := map[string]string{
		"1.22.1-9+deb12u1":   "1.22.1",
		"2.6.12-1+deb12u1":   "2.6.12",
		"1.26.3-3+deb13u7":   "1.26.3",
		"3.2.26-1":           "3.2.26",
		"1:2.0.1-2":          "2.0.1",
		"1.2.3":              "1.2.3",
		"1.2.3+dfsg-1":       "1.2.3",
		"3.3.0~rc1-1":        "3.3.0",
		" 1.30.6-2\n":        "1.30.6",
		"2:1.0-rc1-1+b2":     "1.0-rc1",
		"0.9.8-1~bpo12+1":    "0.9.8",
		"1.24.0-2ubuntu7.1":  "1.24.0",
		"1.22.1-9+deb12u1.1": "1.22.1",
	}
	for in, want := range tests {
		assert.Equal(t, want, UpstreamVersion(in), "UpstreamVersion(%q)", in)
	}
}

func TestMatchAndCompareVersions(t *testing.T) {
	assert.True(t, matchVersion("1.26.3", ""))
	assert.True(t, matchVersion("1.26.3", "1.26"))
	assert.True(t, matchVersion("1.26.3", "1.26.3"))
	assert.True(t, matchVersion("1.26.3", "v1.26"))
	assert.True(t, matchVersion("1.26.3", "1"))
	assert.False(t, matchVersion("1.26.3", "1.2"))
	assert.False(t, matchVersion("1.26.3", "1.26.30"))
	assert.False(t, matchVersion("1.22.1", "1.26"))

	assert.Equal(t, 1, compareVersions("1.30.0", "1.9.2"))
	assert.Equal(t, -1, compareVersions("2.6.12", "3.0.11"))
	assert.Equal(t, 0, compareVersions("3.2.26", "3.2.26"))
	assert.Equal(t, 1, compareVersions("1.26.3", "1.26"))
	assert.Equal(t, -1, compareVersions("1.26", "1.26.0"))
}

func TestInstalledPackage(t *testing.T) {
	status := `Package: libc6
Status: install ok installed
Version: 2.36-9+deb12u10
Description: GNU C Library
 continuation line: Version: 9.9

Package: nginx
Status: deinstall ok config-files
Version: 1.18.0-6.1

Package: nginx-light
Status: install ok installed
Version: 1.22.1-9+deb12u1

Package: haproxy
Status: install ok installed
Architecture: amd64
Version: 2.6.12-1+deb12u1`
	fsys := fstest.MapFS{
		"var/lib/dpkg/status":                  {Data: []byte(status)},
		"var/lib/dpkg/info/nginx-light.list":   {Data: []byte("/.\n/usr/sbin\n/usr/sbin/nginx\n")},
		"var/lib/dpkg/info/nginx-common.list":  {Data: []byte("/usr/sbin/nginx-debug\n/usr/sbin/nginx.d\n")},
		"var/lib/dpkg/info/haproxy:amd64.list": {Data: []byte("/usr/sbin/haproxy\n")},
		"var/lib/dpkg/info/nginx.md5sums":      {Data: []byte("/usr/sbin/nginx\n")},
		"var/lib/dpkg/info/ghost.list":         {Data: []byte("/usr/sbin/ghost\n")},
	}
	pkg, v, err := installedPackage(fsys, "/usr/sbin/nginx")
	require.NoError(t, err)
	assert.Equal(t, "nginx-light", pkg)
	assert.Equal(t, "1.22.1-9+deb12u1", v)

	pkg, v, err = installedPackage(fsys, "/usr/sbin/haproxy")
	require.NoError(t, err)
	assert.Equal(t, "haproxy", pkg)
	assert.Equal(t, "2.6.12-1+deb12u1", v)

	_, _, err = installedPackage(fsys, "/usr/sbin/envoy")
	assert.ErrorContains(t, err, "no installed package owns /usr/sbin/envoy")

	_, _, err = installedPackage(fsys, "/usr/sbin/ghost")
	assert.ErrorContains(t, err, "package ghost is not installed")
}

func TestResolve(t *testing.T) {
	list := []Image{
		{Suite: "bookworm", Ref: "racelab/proxies:bookworm", ID: "sha256:b",
			Versions: map[string]string{"nginx": "1.22.1", "haproxy": "2.6.12"},
			Tags:     []string{"racelab/haproxy:2.6.12", "racelab/nginx:1.22.1", "racelab/proxies:bookworm"}},
		{Suite: "sid", Ref: "racelab/proxies:sid", ID: "sha256:s",
			Versions: map[string]string{"nginx": "1.30.6", "haproxy": "3.2.26"},
			Tags:     []string{"racelab/haproxy:3.2.26", "racelab/nginx:1.30.6", "racelab/proxies:sid"}},
		// The per-proxy tag moved to another image: the suite ref stands in.
		{Suite: "trixie", Ref: "racelab/proxies:trixie", ID: "sha256:t",
			Versions: map[string]string{"nginx": "1.26.3", "haproxy": "3.0.11"},
			Tags:     []string{"racelab/proxies:trixie"}},
	}
	tests := []struct {
		kind      proxies.Kind
		version   string
		want      string
		wantLocal bool
		wantErr   string
	}{
		{kind: proxies.KindNginx, version: "", want: "racelab/nginx:1.30.6", wantLocal: true},
		{kind: proxies.KindNginx, version: "1.22", want: "racelab/nginx:1.22.1", wantLocal: true},
		{kind: proxies.KindNginx, version: "1.22.1", want: "racelab/nginx:1.22.1", wantLocal: true},
		{kind: proxies.KindNginx, version: "1", want: "racelab/nginx:1.30.6", wantLocal: true},
		{kind: proxies.KindNginx, version: "1.26", want: "racelab/proxies:trixie", wantLocal: true},
		{kind: proxies.KindNginx, version: "1.27", want: "nginx:1.27"},
		{kind: proxies.KindNginx, version: "1.2", want: "nginx:1.2"},
		{kind: proxies.KindHAProxy, version: "", want: "racelab/haproxy:3.2.26", wantLocal: true},
		{kind: proxies.KindHAProxy, version: "2.6", want: "racelab/haproxy:2.6.12", wantLocal: true},
		{kind: proxies.KindHAProxy, version: "3.4", want: "haproxy:3.4"},
		{kind: proxies.KindEnvoy, version: "1.31.2", want: "envoyproxy/envoy:v1.31.2"},
		{kind: proxies.KindEnvoy, version: "v1.31.2", want: "envoyproxy/envoy:v1.31.2"},
		{kind: proxies.KindEnvoy, version: "1.31", want: "envoyproxy/envoy:v1.31-latest"},
		{kind: proxies.KindEnvoy, version: "", wantErr: "give a version"},
		{kind: proxies.KindGo, version: "", wantErr: `kind "go" has no image`},
	}
	for _, tt := range tests {
		t.Run(string(tt.kind)+"@"+tt.version, func(t *testing.T) {
			ref, local, err := resolve(list, tt.kind, tt.version)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, ref)
			assert.Equal(t, tt.wantLocal, local)
		})
	}
	ref, local, err := resolve(nil, proxies.KindNginx, "")
	require.NoError(t, err)
	assert.Equal(t, "nginx:latest", ref)
	assert.False(t, local)
}

func TestWriteRootfs(t *testing.T) {
	root := t.TempDir()
	mk := func(rel, content string, mode os.FileMode) {
		p := filepath.Join(root, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), mode))
	}
	mk("usr/sbin/nginx", "binary", 0o755)
	mk("etc/nginx/nginx.conf", "conf", 0o644)
	mk("dev/null", "not a device here", 0o644)
	mk("proc/1/status", "x", 0o644)
	require.NoError(t, os.Symlink("usr/sbin", filepath.Join(root, "sbin")))
	require.NoError(t, os.Link(filepath.Join(root, "usr/sbin/nginx"), filepath.Join(root, "usr/sbin/nginx-hard")))

	var buf bytes.Buffer
	require.NoError(t, writeRootfs(&buf, root))
	got := map[string]*tar.Header{}
	contents := map[string]string{}
	tr := tar.NewReader(&buf)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		got[hdr.Name] = hdr
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		contents[hdr.Name] = string(b)
	}
	require.Contains(t, got, "usr/sbin/nginx")
	assert.Equal(t, "binary", contents["usr/sbin/nginx"])
	assert.Equal(t, int64(0o755), got["usr/sbin/nginx"].Mode&0o777)
	assert.Equal(t, "conf", contents["etc/nginx/nginx.conf"])
	require.Contains(t, got, "sbin")
	assert.Equal(t, byte(tar.TypeSymlink), got["sbin"].Typeflag)
	assert.Equal(t, "usr/sbin", got["sbin"].Linkname)
	// Exactly one of the two names carries the data; the other links to it.
	a, b := got["usr/sbin/nginx"], got["usr/sbin/nginx-hard"]
	require.NotNil(t, b)
	assert.ElementsMatch(t, []byte{tar.TypeReg, tar.TypeLink}, []byte{a.Typeflag, b.Typeflag})
	// dev and proc are kept as empty directories.
	assert.Contains(t, got, "dev/")
	assert.Contains(t, got, "proc/")
	for name := range got {
		assert.False(t, strings.HasPrefix(name, "dev/") && name != "dev/", "dev content packed: %s", name)
		assert.False(t, strings.HasPrefix(name, "proc/") && name != "proc/", "proc content packed: %s", name)
		assert.Equal(t, 0, got[name].Uid, name)
	}
}

func TestSlim(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	mk := func(rel string) {
		p := filepath.Join(root, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o644))
	}
	mk("usr/share/doc/nginx/copyright")
	mk("usr/share/doc/nginx/changelog.Debian.gz")
	mk("usr/share/man/man8/nginx.8.gz")
	mk("usr/share/locale/de/LC_MESSAGES/dpkg.mo")
	mk("var/cache/apt/archives/nginx.deb")
	mk("var/lib/apt/lists/deb.debian.org_Packages")
	mk("var/log/dpkg.log")
	mk("usr/sbin/nginx")
	require.NoError(t, os.WriteFile(filepath.Join(outside, "keep"), []byte("x"), 0o644))
	require.NoError(t, os.Symlink(outside, filepath.Join(root, "usr/share/info")))

	require.NoError(t, slim(root))
	exists := func(rel string) bool {
		_, err := os.Lstat(filepath.Join(root, rel))
		return err == nil
	}
	assert.True(t, exists("usr/share/doc/nginx/copyright"))
	assert.False(t, exists("usr/share/doc/nginx/changelog.Debian.gz"))
	assert.False(t, exists("usr/share/man/man8"))
	assert.True(t, exists("usr/share/man"))
	assert.False(t, exists("usr/share/locale/de"))
	assert.False(t, exists("var/cache/apt/archives"))
	assert.False(t, exists("var/lib/apt/lists/deb.debian.org_Packages"))
	assert.False(t, exists("var/log/dpkg.log"))
	assert.True(t, exists("usr/sbin/nginx"))
	_, err := os.Stat(filepath.Join(outside, "keep"))
	assert.NoError(t, err, "slim followed a symlink out of the root filesystem")
}

func TestUnescapeMount(t *testing.T) {
	assert.Equal(t, "/tmp/a b/proc", unescapeMount(`/tmp/a\040b/proc`))
	assert.Equal(t, "/plain", unescapeMount("/plain"))
	assert.Equal(t, `/odd\04`, unescapeMount(`/odd\04`))
}

func TestRemoveTree(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "rootfs/usr/sbin"), 0o755))
	require.NoError(t, removeTree(dir))
	_, err := os.Stat(dir)
	assert.True(t, errors.Is(err, os.ErrNotExist))
}

// TestRemoveTreeUnmounts leaves a mount inside a build directory, as a
// killed debootstrap does, and checks removeTree unmounts it before
// removing anything: the mounted file system's content survives.
func TestRemoveTreeUnmounts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	outside := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "precious"), []byte("x"), 0o644))
	dir, err := os.MkdirTemp("", "racelab-rootfs-test-")
	require.NoError(t, err)
	target := filepath.Join(dir, "rootfs", "proc")
	require.NoError(t, os.MkdirAll(target, 0o755))
	if err := syscall.Mount(outside, target, "", syscall.MS_BIND, ""); err != nil {
		_ = os.RemoveAll(dir)
		t.Skipf("cannot bind mount here: %v", err)
	}
	mounts, err := mountsBelow(dir)
	require.NoError(t, err)
	require.Equal(t, []string{target}, mounts)

	require.NoError(t, removeTree(dir))
	_, err = os.Stat(dir)
	assert.True(t, errors.Is(err, os.ErrNotExist), "build directory left: %v", err)
	_, err = os.Stat(filepath.Join(outside, "precious"))
	assert.NoError(t, err, "removeTree deleted through a mount")
}

func TestMissingDebs(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want []string
	}{
		{"debootstrap: exit status 1; last output:\nE: Couldn't find these debs: varnish", []string{"varnish"}},
		{"E: Couldn't find these debs: varnish squid\n", []string{"varnish", "squid"}},
		{"E: Failure trying to run: chroot", nil},
	} {
		assert.Equal(t, tc.want, missingDebs(tc.msg), tc.msg)
	}
	assert.True(t, isRequired("nginx"))
	assert.False(t, isRequired("varnish"))
	for _, k := range Kinds {
		assert.NotEmpty(t, kindPackages[k], k)
		assert.NotEmpty(t, proxyBinaries[k], k)
	}
}

func TestMissingAPT(t *testing.T) {
	assert.Equal(t, []string{"varnish"}, missingAPT("apt-get: exit status 100; last output:\nE: Unable to locate package varnish"))
	assert.Equal(t, []string{"squid", "varnish"}, missingAPT("E: Package 'squid' has no installation candidate\nE: Unable to locate package varnish\n"))
	assert.Nil(t, missingAPT("E: Sub-process /usr/bin/dpkg returned an error code (1)"))
}

func TestVersionsText(t *testing.T) {
	im := Image{Versions: map[string]string{"nginx": "1.22.1", "haproxy": "2.6.12", "caddy": "2.6.2", "apache": "2.4.68", "squid": "5.7"}}
	assert.Equal(t, "nginx 1.22.1 haproxy 2.6.12 caddy 2.6.2 apache 2.4.68 squid 5.7", versionsText(im))
	assert.Equal(t, "nginx,haproxy,caddy,apache2,varnish,squid", packagesLabel())
}
