package guard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Preset is the upstream idle timeout of a managed load balancer or mesh,
// one whose configuration a user does not hold as a proxy file: its
// documented default, and the file that can set it, if any.
type Preset struct {
	Name string
	// Idle is the idle timeout that applies when nothing sets it.
	Idle time.Duration
	// Fixed says the provider offers no setting for it.
	Fixed bool
	// What the value is, in the provider's words.
	What string
	// Doc is where the provider documents it.
	Doc string
	// File names the file NAME:FILE reads ("" when none can set it).
	File string
}

// Presets are the managed load balancers and meshes --proxy-preset
// knows, by name.
var Presets = []Preset{
	{Name: "aws-alb", Idle: 60 * time.Second,
		What: "AWS Application Load Balancer connection idle timeout (idle_timeout.timeout_seconds, 1-4000 s), default 60 s",
		Doc:  "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-load-balancer-attributes.html#connection-idle-timeout",
		File: "describe-load-balancer-attributes JSON, CloudFormation (JSON or YAML) or Terraform (aws_lb idle_timeout)"},
	{Name: "gcp-https-lb", Idle: 600 * time.Second, Fixed: true,
		What: "Google Cloud external HTTP(S) load balancer backend keep-alive, fixed at 600 s (not configurable)",
		Doc:  "https://cloud.google.com/load-balancing/docs/https#timeouts_and_retries"},
	{Name: "istio", Idle: time.Hour,
		What: "Istio sidecar (Envoy) upstream idle timeout: DestinationRule trafficPolicy.connectionPool.http.idleTimeout, default 1 h",
		Doc:  "https://istio.io/latest/docs/reference/config/networking/destination-rule/#ConnectionPoolSettings-HTTPSettings",
		File: "DestinationRule YAML"},
	{Name: "cloudfoundry-gorouter", Idle: 90 * time.Second, Fixed: true,
		What: "Cloud Foundry Gorouter closes idle back-end keep-alive connections after 90 s (hard-coded)",
		Doc:  "https://docs.cloudfoundry.org/adminguide/routing-keepalive.html"},
	{Name: "cloudflare-tunnel", Idle: 90 * time.Second,
		What: "cloudflared originRequest keepAliveTimeout, default 1m30s",
		Doc:  "https://developers.cloudflare.com/cloudflare-one/connections/connect-networks/configure-tunnels/origin-configuration/#keepalivetimeout"},
}

// PresetNames lists the preset names, for messages.
func PresetNames() []string {
	names := make([]string, len(Presets))
	for i, p := range Presets {
		names[i] = p.Name
	}
	return names
}

// LookupPreset finds a preset by name.
func LookupPreset(name string) (Preset, bool) {
	for _, p := range Presets {
		if p.Name == name {
			return p, true
		}
	}
	return Preset{}, false
}

// ReadPreset reads a preset written NAME or NAME:FILE: the preset's
// documented default, or the value FILE sets (aws-alb: attributes, a
// CloudFormation template or Terraform; istio: DestinationRule YAML,
// several DestinationRules picked with WithName by metadata.name or
// spec.host). FILE "-" reads the input given WithInput.
func ReadPreset(spec string, opts ...ReadOption) ([]Value, error) {
	name, path, hasFile := strings.Cut(spec, ":")
	p, ok := LookupPreset(name)
	if !ok {
		return nil, fmt.Errorf("preset %q: want one of %s", name, strings.Join(PresetNames(), ", "))
	}
	c := newReadConfig(opts)
	if !hasFile {
		if c.name != "" && p.Name != "istio" {
			return nil, fmt.Errorf("preset %s: has a single value, nothing to pick by name %q", p.Name, c.name)
		}
		source := "preset " + p.Name
		v := Value{State: StateFinite, Duration: p.Idle, Source: source, Default: !p.Fixed,
			Explanation: p.What + " (" + p.Doc + ")"}
		if !p.Fixed && p.File != "" {
			v.Notes = append(v.Notes, fmt.Sprintf("the default; if yours is set, give --proxy-preset %s:FILE (%s)", p.Name, p.File))
		}
		return []Value{v}, nil
	}
	if path == "" {
		return nil, fmt.Errorf("preset %q: want NAME or NAME:FILE", spec)
	}
	switch p.Name {
	case "aws-alb":
		return withData(c, path, func(src string, data []byte) ([]Value, error) { return parseALBFile(src, data) })
	case "istio":
		return withData(c, path, func(src string, data []byte) ([]Value, error) { return parseDestinationRules(c, src, data) })
	}
	if p.Fixed {
		return nil, fmt.Errorf("preset %s: the idle timeout is fixed at %s; no file sets it", p.Name, FormatMS(p.Idle))
	}
	return nil, fmt.Errorf("preset %s: no file is read for it; give --proxy-preset %s, or --proxy-idle with your setting", p.Name, p.Name)
}

var terraformIdleRE = regexp.MustCompile(`(?m)^[ \t]*idle_timeout[ \t]*=[ \t]*"?([^"\s#]+)"?`)

// parseALBFile reads an ALB's idle timeout from the output of aws elbv2
// describe-load-balancer-attributes, a CloudFormation template (JSON or
// YAML: LoadBalancerAttributes Key/Value pairs) or Terraform (aws_lb
// idle_timeout). A file that sets it more than once is ambiguous.
func parseALBFile(src string, data []byte) ([]Value, error) {
	if strings.HasSuffix(src, ".tf") || bytes.Contains(data, []byte(`resource "aws_lb"`)) || bytes.Contains(data, []byte(`resource "aws_alb"`)) {
		return parseALBTerraform(src, data)
	}
	if v, err := parseALB(src, data); err == nil {
		return v, nil
	}
	// CloudFormation: find every {Key: idle_timeout.timeout_seconds,
	// Value: N} anywhere, in every YAML (or JSON) document.
	var found []string
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read aws-alb: %s: neither describe-load-balancer-attributes JSON nor a YAML or JSON template: %w", src, err)
		}
		found = append(found, keyValues(&n, albIdleKey)...)
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("read aws-alb: %s: no %s attribute: the ALB default 60 s applies; give --proxy-preset aws-alb to use it", src, albIdleKey)
	case 1:
	default:
		return nil, fmt.Errorf("read aws-alb: %s: %s is set %d times (%s): ambiguous; keep one load balancer per file", src, albIdleKey, len(found), strings.Join(found, ", "))
	}
	return albValue(src, found[0], albIdleKey+" "+found[0]+" (seconds, by the attribute's name; CloudFormation LoadBalancerAttributes)")
}

func parseALBTerraform(src string, data []byte) ([]Value, error) {
	ms := terraformIdleRE.FindAllSubmatchIndex(data, -1)
	switch len(ms) {
	case 0:
		return nil, fmt.Errorf("read aws-alb: %s: no idle_timeout in an aws_lb resource: the ALB default 60 s applies; give --proxy-preset aws-alb to use it", src)
	case 1:
	default:
		return nil, fmt.Errorf("read aws-alb: %s: idle_timeout is set %d times: ambiguous; keep one load balancer per file", src, len(ms))
	}
	val := string(data[ms[0][2]:ms[0][3]])
	line := 1 + bytes.Count(data[:ms[0][0]], []byte("\n"))
	if strings.ContainsAny(val, "${}.") || !regexp.MustCompile(`^\d+$`).MatchString(val) {
		return nil, fmt.Errorf("read aws-alb: %s:%d: idle_timeout = %s: want a literal number of seconds (a variable cannot be read)", src, line, val)
	}
	return albValue(fmt.Sprintf("%s:%d", src, line), val, "idle_timeout "+val+" (seconds; Terraform aws_lb)")
}

func albValue(src, s, explanation string) ([]Value, error) {
	n, err := parseUint(s)
	if err != nil {
		return nil, fmt.Errorf("read aws-alb: %s: %s %q: want whole seconds", src, albIdleKey, s)
	}
	if n < 1 || n > 4000 {
		return nil, fmt.Errorf("read aws-alb: %s: %s %d: outside the ALB range 1-4000 seconds", src, albIdleKey, n)
	}
	return []Value{{State: StateFinite, Duration: time.Duration(n) * time.Second, Source: src, Explanation: explanation}}, nil
}

// keyValues finds every mapping {Key: key, Value: V} under n and returns
// each V as text, with its line.
func keyValues(n *yaml.Node, key string) []string {
	var out []string
	if n.Kind == yaml.MappingNode {
		var k, v *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			switch n.Content[i].Value {
			case "Key":
				k = n.Content[i+1]
			case "Value":
				v = n.Content[i+1]
			}
		}
		if k != nil && v != nil && k.Value == key && v.Kind == yaml.ScalarNode {
			out = append(out, v.Value)
		}
	}
	for _, c := range n.Content {
		out = append(out, keyValues(c, key)...)
	}
	return out
}

// destinationRule is the part of an Istio DestinationRule the guard reads.
type destinationRule struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Spec struct {
		Host          string        `yaml:"host"`
		TrafficPolicy trafficPolicy `yaml:"trafficPolicy"`
		Subsets       []struct {
			Name          string        `yaml:"name"`
			TrafficPolicy trafficPolicy `yaml:"trafficPolicy"`
		} `yaml:"subsets"`
	} `yaml:"spec"`
}

type trafficPolicy struct {
	ConnectionPool    connectionPool `yaml:"connectionPool"`
	PortLevelSettings []struct {
		Port struct {
			Number int `yaml:"number"`
		} `yaml:"port"`
		ConnectionPool connectionPool `yaml:"connectionPool"`
	} `yaml:"portLevelSettings"`
}

type connectionPool struct {
	HTTP struct {
		IdleTimeout yaml.Node `yaml:"idleTimeout"`
	} `yaml:"http"`
}

// parseDestinationRules reads the upstream idle timeouts of Istio
// DestinationRules: the rule's trafficPolicy, each port-level setting and
// each subset that sets one (a subset's policy replaces the rule's). A
// rule without one has Istio's default, 1 h. A file with several rules
// needs a name (metadata.name, namespace/name or spec.host).
func parseDestinationRules(c *readConfig, src string, data []byte) ([]Value, error) {
	var rules []destinationRule
	var lines []int
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read istio: %s: %w", src, err)
		}
		var r destinationRule
		if err := n.Decode(&r); err != nil {
			return nil, fmt.Errorf("read istio: %s:%d: %w", src, n.Line, err)
		}
		if r.Kind == "DestinationRule" {
			rules = append(rules, r)
			lines = append(lines, n.Line)
		}
	}
	if len(rules) == 0 {
		return nil, fmt.Errorf("read istio: %s: no DestinationRule: Istio's default 1 h applies; give --proxy-preset istio to use it", src)
	}
	var names []string
	picked := -1
	for i, r := range rules {
		id := r.Metadata.Name
		if r.Metadata.Namespace != "" {
			id = r.Metadata.Namespace + "/" + id
		}
		names = append(names, id+" (host "+r.Spec.Host+")")
		if c.name != "" && (c.name == r.Metadata.Name || c.name == id || c.name == r.Spec.Host) {
			if picked >= 0 {
				return nil, fmt.Errorf("read istio: %s: %q names more than one DestinationRule: use namespace/name", src, c.name)
			}
			picked = i
		}
	}
	switch {
	case c.name != "" && picked < 0:
		return nil, fmt.Errorf("read istio: %s: no DestinationRule named %q; have %s", src, c.name, strings.Join(names, ", "))
	case c.name == "" && len(rules) > 1:
		return nil, fmt.Errorf("read istio: %s: %d DestinationRules, ambiguous: pick one with --upstream NAME (metadata.name, namespace/name or spec.host); have %s", src, len(rules), strings.Join(names, ", "))
	case picked < 0:
		picked = 0
	}
	r := rules[picked]
	name := r.Metadata.Name
	where := fmt.Sprintf("%s:%d", src, lines[picked])
	top, err := idleOf(where, &r.Spec.TrafficPolicy.ConnectionPool)
	if err != nil {
		return nil, err
	}
	var vals []Value
	if top == nil {
		vals = append(vals, Value{State: StateFinite, Duration: time.Hour, Source: where, Name: name, Default: true,
			Explanation: "trafficPolicy.connectionPool.http.idleTimeout not set: Istio's default 1h"})
	} else {
		top.Source, top.Name = where, name
		vals = append(vals, *top)
	}
	for _, pl := range r.Spec.TrafficPolicy.PortLevelSettings {
		v, err := idleOf(where, &pl.ConnectionPool)
		if err != nil {
			return nil, err
		}
		if v != nil {
			v.Source, v.Name = where, name+" port "+strconv.Itoa(pl.Port.Number)
			vals = append(vals, *v)
		}
	}
	for _, s := range r.Spec.Subsets {
		v, err := idleOf(where, &s.TrafficPolicy.ConnectionPool)
		if err != nil {
			return nil, err
		}
		if v != nil {
			v.Source, v.Name = where, name+" subset "+s.Name
			vals = append(vals, *v)
		}
	}
	return vals, nil
}

// idleOf reads connectionPool.http.idleTimeout (nil when not set): a
// protobuf Duration in its JSON form ("30s", "1.5s", "500ms", "1h").
func idleOf(where string, cp *connectionPool) (*Value, error) {
	n := &cp.HTTP.IdleTimeout
	if n.Kind == 0 {
		return nil, nil
	}
	at := fmt.Sprintf("%s (line %d)", where, n.Line)
	if n.Kind != yaml.ScalarNode || n.Value == "" {
		return nil, fmt.Errorf("read istio: %s: idleTimeout: want a duration like 30s", at)
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil || !slices.ContainsFunc([]string{"s", "ms", "m", "h", "us", "ns"}, func(u string) bool { return strings.HasSuffix(n.Value, u) }) {
		return nil, fmt.Errorf("read istio: %s: idleTimeout %q: want a duration with a unit, like 30s", at, n.Value)
	}
	if d < 0 || d > maxDuration {
		return nil, fmt.Errorf("read istio: %s: idleTimeout %q: want a duration from 0 to a century", at, n.Value)
	}
	if d == 0 {
		// Envoy reads a zero idle_timeout as no idle timer.
		return &Value{State: StateUnbounded, Explanation: "connectionPool.http.idleTimeout " + n.Value + " (0 disables Envoy's idle timer)"}, nil
	}
	return &Value{State: StateFinite, Duration: d, Explanation: "connectionPool.http.idleTimeout " + n.Value + " (line " + strconv.Itoa(n.Line) + ")"}, nil
}
