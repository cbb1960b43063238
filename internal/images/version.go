package images

import (
	"strconv"
	"strings"
)

// UpstreamVersion strips a Debian package version down to the upstream
// version the proxy reports: no epoch ("1:"), no Debian revision
// ("-9+deb12u1"), no repack suffix ("+dfsg", "~rc1").
//
//	UpstreamVersion("1.22.1-9+deb12u1") == "1.22.1"
//	UpstreamVersion("2.6.12-1+deb12u1") == "2.6.12"
func UpstreamVersion(deb string) string {
	v := strings.TrimSpace(deb)
	if i := strings.IndexByte(v, ':'); i >= 0 {
		v = v[i+1:]
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		v = v[:i]
	}
	if i := strings.IndexAny(v, "+~"); i >= 0 {
		v = v[:i]
	}
	return v
}

// matchVersion reports whether the version have satisfies want: "" takes
// any version, "1.26" takes 1.26 and 1.26.x, "1.26.3" only itself.
func matchVersion(have, want string) bool {
	want = strings.TrimPrefix(want, "v")
	return want == "" || have == want || strings.HasPrefix(have, want+".")
}

// compareVersions orders dotted versions numerically, component by
// component ("1.30.0" > "1.9.2"); a non-numeric component compares as
// text.
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		if i >= len(as) {
			return -1
		}
		if i >= len(bs) {
			return 1
		}
		x, errx := strconv.Atoi(as[i])
		y, erry := strconv.Atoi(bs[i])
		switch {
		case errx == nil && erry == nil:
			if x != y {
				if x < y {
					return -1
				}
				return 1
			}
		default:
			if c := strings.Compare(as[i], bs[i]); c != 0 {
				return c
			}
		}
	}
	return 0
}
