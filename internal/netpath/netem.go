package netpath

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// NetemAvailable reports whether the kernel has the netem qdisc, which a
// path made of network namespaces and veth pairs would need. It tries a
// netem qdisc on the loopback device of a fresh network namespace that
// exists only for the check (unshare -n), so the machine's own devices are
// never touched. The string says why not, when it is false.
func NetemAvailable(ctx context.Context) (bool, string) {
	if os.Geteuid() != 0 {
		return false, "netem needs root (network namespaces and tc)"
	}
	for _, bin := range []string{"unshare", "tc"} {
		if _, err := exec.LookPath(bin); err != nil {
			return false, fmt.Sprintf("%s not on PATH", bin)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "unshare", "-n", "--", "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms").CombinedOutput()
	if err != nil {
		return false, fmt.Sprintf("tc qdisc add netem in a new network namespace: %s (%v)", strings.TrimSpace(string(out)), err)
	}
	return true, ""
}
