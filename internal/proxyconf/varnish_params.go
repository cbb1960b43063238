package proxyconf

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// params2 builds varnishd's command line from racelab's parameters and
// the user's, and the effective settings.
func (r *vclRewriter) params2() (args, validate []string, eff []Setting) {
	dir := filepath.Clean(r.in.Dir)
	work := filepath.Join(dir, VarnishWorkDir)
	vcl := filepath.Join(dir, VarnishVCLName)
	idle, idleSrc, idleVal := varnishIdleDefault, "", "60"
	var user []string
	for _, p := range r.params {
		switch {
		case p.Name == "backend_idle_timeout":
			d, err := ParseVarnishSeconds(p.Value)
			if err == nil {
				idle, idleSrc, idleVal = d, p.Source, p.Value
				continue
			}
			r.notes = append(r.notes, fmt.Sprintf("%s: backend_idle_timeout=%s: %v; Varnish's default 60s used", p.Source, p.Value, err))
		case slices.Contains(varnishKeptParams, p.Name) && p.Value != "" && strings.Trim(p.Value, "0123456789.smhdwy,") == "":
			user = append(user, "-p", p.Name+"="+p.Value)
			continue
		}
		file, line := splitPos(p.Source)
		r.changes = append(r.changes, Change{Directive: "-p " + p.Name, File: file, Line: line, Old: "-p " + p.Name + "=" + p.Value,
			Why: "racelab runs varnishd with its own process, thread, log and path parameters; only timeouts, retries and sizes are kept"})
	}
	ran := idle
	if r.in.scaled() {
		ran = r.in.scale(idle)
		why := fmt.Sprintf("backend idle timeout scaled by timescale %g", r.in.Timescale)
		if ran < varnishIdleFloor {
			why += fmt.Sprintf(" (%s is below Varnish's minimum: it runs as 1s)", ran)
			ran = varnishIdleFloor
		}
		c := Change{Directive: "-p backend_idle_timeout", Old: "backend_idle_timeout=" + idleVal, New: "backend_idle_timeout=" + secondsText(ran), Why: why}
		if idleSrc != "" {
			c.File, c.Line = splitPos(idleSrc)
		} else {
			c.Old, c.Why = "", why+" from Varnish's default 60s"
		}
		r.changes = append(r.changes, c)
	}
	clientIdle := max(varnishClientIdle, 2*ran)
	args = []string{"-F", "-j", "none", "-n", work, "-a", r.in.Listen, "-f", vcl, "-T", "none", "-s", "malloc,16m",
		"-p", "auto_restart=off", "-p", "vsl_space=4M", "-p", "thread_pools=1", "-p", "thread_pool_min=10", "-p", "thread_pool_max=100",
		"-p", "timeout_idle=" + secondsText(clientIdle), "-p", "backend_idle_timeout=" + secondsText(ran)}
	args = append(args, user...)
	validate = []string{"-C", "-j", "none", "-n", work, "-f", vcl}
	r.added("-a", "-a "+r.in.Listen, "racelab's loopback listener (varnishd's -a is not in the VCL)")
	r.added("-p timeout_idle", "timeout_idle="+secondsText(clientIdle), "keeps racelab's persistent client connection open across its idle gaps")

	under := r.backend(r.under)
	set := func(name, value, source string, def bool, note string) {
		eff = append(eff, Setting{Name: name, Value: value, Source: source, Default: def, Note: note})
	}
	set("idle_timeout", idleVal, idleSrc, idleSrc == "", "varnishd's backend_idle_timeout, in seconds")
	pool, poolSrc := "unlimited", ""
	if under != nil {
		for _, f := range under.fields {
			if f.name == ".max_connections" {
				pool, poolSrc = joinToks(f.val), f.pos()
			}
		}
	}
	set("pool_size", pool, poolSrc, poolSrc == "", ".max_connections of the backend under test")
	set("retry", "extrachance", "", true, "Varnish sends a request that failed on a recycled backend connection once more on a new one, by itself, unless its body was streamed uncached")
	set("reuse", "pooled", "", true, "Varnish keeps idle backend connections for reuse")
	for _, name := range []string{"connect_timeout", "first_byte_timeout"} {
		val, src := "", ""
		if under != nil {
			for _, f := range under.fields {
				if f.name == "."+name {
					val, src = joinToks(f.val), f.pos()
				}
			}
		}
		for _, p := range r.params {
			if p.Name == name && val == "" {
				val, src = p.Value, p.Source
			}
		}
		if val == "" {
			val = map[string]string{"connect_timeout": "3.5", "first_byte_timeout": "60"}[name]
		}
		set(name, val, src, src == "", "")
	}
	return args, validate, eff
}

// ParseVarnishSeconds reads a varnishd timeout parameter: seconds,
// fractions allowed ("65", "1.5"), at least one second.
func ParseVarnishSeconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e9 {
		return 0, fmt.Errorf("want a number of seconds, as varnishd takes it")
	}
	d := time.Duration(f * float64(time.Second))
	if d < varnishIdleFloor {
		return 0, fmt.Errorf("below varnishd's minimum of 1 second")
	}
	return d, nil
}

// secondsText renders d in seconds to the millisecond ("1.2", "60").
func secondsText(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Milliseconds())/1000, 'f', -1, 64)
}
