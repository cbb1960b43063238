package guard

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

const (
	envoyIdleDefault  = time.Hour
	envoyHTTPOptions  = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	envoyHTTPOptsType = "type.googleapis.com/" + envoyHTTPOptions
)

// ReadEnvoy reads the upstream idle timeout of every static cluster in an
// Envoy bootstrap (YAML or JSON): common_http_protocol_options.idle_timeout
// inside typed_extension_protocol_options
// ["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"], or the
// deprecated field of that name on the cluster. Values are protobuf
// duration strings ("60s", "0.5s"); absent means Envoy's default of one
// hour; "0s" turns the idle timer off. WithName picks one cluster.
func ReadEnvoy(path string, opts ...ReadOption) ([]Value, error) {
	c := newReadConfig(opts)
	return withData(c, path, func(name string, data []byte) ([]Value, error) { return parseEnvoy(c, name, data) })
}

func parseEnvoy(c *readConfig, path string, data []byte) ([]Value, error) {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("read envoy: %s: %w", path, err)
	}
	root, ok := asMap(doc)
	if !ok {
		return nil, fmt.Errorf("read envoy: %s: not a bootstrap: want a mapping at the top", path)
	}
	sr, _ := asMap(root["static_resources"])
	clusters, _ := sr["clusters"].([]any)
	if len(clusters) == 0 {
		msg := "no static_resources.clusters"
		if root["dynamic_resources"] != nil {
			msg += " (clusters come from CDS: read the idle timeout from the management server's config or give --proxy-idle)"
		}
		return nil, fmt.Errorf("read envoy: %s: %s", path, msg)
	}
	var vals []Value
	for i, raw := range clusters {
		cl, ok := asMap(raw)
		if !ok {
			return nil, fmt.Errorf("read envoy: %s: clusters[%d] is not a mapping", path, i)
		}
		v, err := envoyCluster(path, i, cl)
		if err != nil {
			return nil, fmt.Errorf("read envoy: %w", err)
		}
		vals = append(vals, v)
	}
	return pickErr("read envoy", vals, c.name, "cluster")
}

func envoyCluster(path string, i int, cl map[string]any) (Value, error) {
	name, _ := cl["name"].(string)
	if name == "" {
		return Value{}, fmt.Errorf("%s: clusters[%d] has no name", path, i)
	}
	where := fmt.Sprintf("%s: cluster %q", path, name)
	v := Value{Source: path, Name: "cluster " + name}
	var typed map[string]any
	if teo, ok := asMap(cl["typed_extension_protocol_options"]); ok {
		for k, raw := range teo {
			m, ok := asMap(raw)
			if !ok {
				continue
			}
			if k == envoyHTTPOptions || m["@type"] == envoyHTTPOptsType {
				typed = m
			}
		}
	}
	field := ""
	var idle any
	if typed != nil {
		if cho, ok := asMap(typed["common_http_protocol_options"]); ok {
			idle, field = cho["idle_timeout"], "typed_extension_protocol_options HttpProtocolOptions common_http_protocol_options.idle_timeout"
		}
		if ehc, ok := asMap(typed["explicit_http_config"]); ok && ehc["http2_protocol_options"] != nil {
			v.Notes = append(v.Notes, "the cluster speaks HTTP/2 upstream: one multiplexed connection, closed by GOAWAY, is outside the HTTP/1.1 keep-alive race")
		}
	}
	if legacy, ok := asMap(cl["common_http_protocol_options"]); ok {
		if typed != nil {
			return Value{}, fmt.Errorf("%s: sets both the deprecated common_http_protocol_options and typed_extension_protocol_options, which Envoy rejects", where)
		}
		idle, field = legacy["idle_timeout"], "common_http_protocol_options.idle_timeout (deprecated field)"
	}
	if idle == nil {
		v.State, v.Duration, v.Default = StateFinite, envoyIdleDefault, true
		v.Explanation = "idle_timeout not set: Envoy's default 1h"
		return v, nil
	}
	s, ok := idle.(string)
	if !ok {
		return Value{}, fmt.Errorf("%s: %s is %s, want a duration string such as \"60s\" (a bare number has no unit)", where, field, describe(idle))
	}
	d, err := parseProtoDuration(s)
	if err != nil {
		return Value{}, fmt.Errorf("%s: %s %w", where, field, err)
	}
	if d == 0 {
		v.State = StateUnbounded
		v.Explanation = field + " " + s + ": the idle timer is off"
		return v, nil
	}
	v.State, v.Duration = StateFinite, d
	v.Explanation = field + " " + s
	return v, nil
}

func asMap(x any) (map[string]any, bool) {
	switch m := x.(type) {
	case map[string]any:
		return m, true
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, v := range m {
			ks, ok := k.(string)
			if !ok {
				return nil, false
			}
			out[ks] = v
		}
		return out, true
	}
	return nil, false
}

func describe(x any) string {
	switch v := x.(type) {
	case string:
		return fmt.Sprintf("the string %q", v)
	case int, int64, uint64, float64, json.Number:
		return fmt.Sprintf("the number %v", v)
	case map[string]any, map[any]any:
		return "a mapping"
	case []any:
		return "a list"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", x)
}

// ReadALB reads the idle timeout of an AWS Application Load Balancer
// from the JSON that `aws elbv2 describe-load-balancer-attributes`
// prints: the attribute idle_timeout.timeout_seconds, in seconds by its
// name. A missing, repeated, non-numeric or out-of-range value is an
// error.
func ReadALB(path string, opts ...ReadOption) ([]Value, error) {
	c := newReadConfig(opts)
	return withData(c, path, func(name string, data []byte) ([]Value, error) { return parseALB(name, data) })
}

const albIdleKey = "idle_timeout.timeout_seconds"

func parseALB(path string, data []byte) ([]Value, error) {
	type attr struct {
		Key   string          `json:"Key"`
		Value json.RawMessage `json:"Value"`
	}
	var doc struct {
		Attributes []attr `json:"Attributes"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		var list []attr // output of --query Attributes
		if err2 := json.Unmarshal(data, &list); err2 != nil {
			return nil, fmt.Errorf("read alb-json: %s: %w", path, err)
		}
		doc.Attributes = list
	}
	var found []attr
	for _, a := range doc.Attributes {
		if a.Key == albIdleKey {
			found = append(found, a)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("read alb-json: %s: no %s attribute (is this an Application Load Balancer's describe-load-balancer-attributes output?)", path, albIdleKey)
	case 1:
	default:
		return nil, fmt.Errorf("read alb-json: %s: %s appears %d times", path, albIdleKey, len(found))
	}
	raw := found[0].Value
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return nil, fmt.Errorf("read alb-json: %s: %s value %s is neither a string nor a number", path, albIdleKey, raw)
		}
		s = n.String()
	}
	n, err := parseUint(s)
	if err != nil {
		return nil, fmt.Errorf("read alb-json: %s: %s %q: want whole seconds", path, albIdleKey, s)
	}
	if n < 1 || n > 4000 {
		return nil, fmt.Errorf("read alb-json: %s: %s %d: outside the ALB range 1-4000 seconds", path, albIdleKey, n)
	}
	return []Value{{State: StateFinite, Duration: time.Duration(n) * time.Second, Source: path,
		Explanation: albIdleKey + " " + strconv.FormatInt(n, 10) + " (seconds, by the attribute's name)"}}, nil
}
