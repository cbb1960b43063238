package cli

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/racelab/racelab/internal/wire"
	"github.com/racelab/racelab/lab"
)

// TestRunPcap: racelab run --pcap leaves one pcap file per failing trial,
// named in its record, that tshark reads.
func TestRunPcap(t *testing.T) {
	t.Parallel()
	if err := lab.WireAvailable(t.Context()); err != nil {
		if errors.Is(err, wire.ErrUnavailable) && os.Geteuid() != 0 {
			t.Skipf("%v: run the tests as root (scripts/test.sh does)", err)
		}
		t.Fatal(err)
	}
	dir := t.TempDir()
	sc := filepath.Join(dir, "pcap.yaml")
	if err := os.WriteFile(sc, []byte("name: pcap\nbase: {proxy_idle: 10s, backend_keepalive: 0s, gap: 0s, retry: \"off\", trials: 3}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pcaps, out := filepath.Join(dir, "pcaps"), filepath.Join(dir, "out.jsonl")
	_, stdout, stderr := runCLI(t, "run", sc, "--proxy", "go", "--pcap", pcaps, "-o", out, "--quiet")
	files, err := filepath.Glob(filepath.Join(pcaps, "*.pcap"))
	if err != nil || len(files) != 3 {
		t.Fatalf("want 3 pcap files, got %v (%v)\n%s%s", files, err, stdout, stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !strings.Contains(string(data), `"pcap":"`+f+`"`) {
			t.Errorf("no record names %s", f)
		}
	}
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed (apt-get install tshark; scripts/test.sh installs it)")
	}
	got, err := exec.Command(tshark, "-r", files[0], "-Y", "tcp.flags.fin == 1").Output()
	if err != nil || !strings.Contains(string(got), "FIN") {
		t.Errorf("tshark -r %s: %v\n%s", files[0], err, got)
	}
}
