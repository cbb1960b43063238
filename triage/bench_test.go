package triage

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeNginxLog writes size bytes of combined-format lines, one 502 in a
// hundred, and the error log explaining every other 502.
func writeNginxLog(b *testing.B, dir string, size int) (string, string) {
	b.Helper()
	access := filepath.Join(dir, fmt.Sprintf("access-%d.log", size))
	errlog := filepath.Join(dir, fmt.Sprintf("error-%d.log", size))
	var a, e strings.Builder
	for i := 0; a.Len() < size; i++ {
		sec := i / 2000
		ts := fmt.Sprintf("05/Dec/2026:%02d:%02d:%02d +0000", sec/3600%24, sec/60%60, sec%60)
		status := 200
		if i%100 == 99 {
			status = 502
			if i%200 == 199 {
				fmt.Fprintf(&e, "2026/12/05 %02d:%02d:%02d [error] 7#7: *%d upstream prematurely closed connection while reading response header from upstream, client: 10.1.%d.%d, server: shop, request: \"GET /api/orders/%d HTTP/1.1\", upstream: \"http://10.0.0.1:8080/api/orders/%d\", host: \"shop.example.com\"\n",
					sec/3600%24, sec/60%60, sec%60, i, i%250, i%200, i, i)
			}
		}
		fmt.Fprintf(&a, "10.1.%d.%d - - [%s] \"GET /api/orders/%d HTTP/1.1\" %d 1234 \"https://shop.example.com/cart\" \"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\"\n",
			i%250, i%200, ts, i, status)
	}
	if err := os.WriteFile(access, []byte(a.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(errlog, []byte(e.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	return access, errlog
}

// BenchmarkNginxAccess measures triage's throughput on the stock combined
// format with its error log (MB/s: bytes of access log). Memory must stay
// flat in input size: compare B/op of the 16 MB and 64 MB runs.
func BenchmarkNginxAccess(b *testing.B) {
	dir := b.TempDir()
	for _, size := range []int{16 << 20, 64 << 20} {
		access, errlog := writeNginxLog(b, dir, size)
		st, _ := os.Stat(access)
		b.Run(fmt.Sprintf("%dMB", size>>20), func(b *testing.B) {
			b.SetBytes(st.Size())
			b.ReportAllocs()
			for b.Loop() {
				rep, err := Analyze(context.Background(), []string{access, errlog}, WithFormat(FormatNginx))
				if err != nil || rep.Race == 0 {
					b.Fatalf("race %v, err %v", rep, err)
				}
			}
		})
	}
}
