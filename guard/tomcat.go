package guard

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// ReadTomcat reads the keep-alive idle timeout of every HTTP Connector in
// a Tomcat server.xml: keepAliveTimeout, else connectionTimeout, else
// 60000, all whole milliseconds (Tomcat's unit; "75s" is an error); -1
// means no timeout. maxKeepAliveRequests="1" turns keep-alive off. AJP
// connectors are skipped. WithName picks a connector by port.
func ReadTomcat(path string, opts ...ReadOption) ([]Value, error) {
	c := newReadConfig(opts)
	return withData(c, path, func(name string, d []byte) ([]Value, error) { return parseTomcat(c, name, d) })
}

func parseTomcat(c *readConfig, path string, data []byte) ([]Value, error) {
	dec := xml.NewDecoder(bytes.NewReader(data))
	var vals []Value
	skipped := 0
	elements := 0
	for {
		line, _ := dec.InputPos()
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read tomcat: %s: %w", path, err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		elements++
		if se.Name.Local != "Connector" {
			continue
		}
		attrs := map[string]string{}
		for _, a := range se.Attr {
			attrs[a.Name.Local] = a.Value
		}
		if strings.Contains(strings.ToUpper(attrs["protocol"]), "AJP") {
			skipped++
			continue
		}
		v, err := tomcatConnector(fmt.Sprintf("%s:%d", path, line), attrs)
		if err != nil {
			return nil, fmt.Errorf("read tomcat: %w", err)
		}
		vals = append(vals, v)
	}
	if elements == 0 {
		return nil, fmt.Errorf("read tomcat: %s: no XML elements", path)
	}
	if len(vals) == 0 {
		return nil, fmt.Errorf("read tomcat: %s: no HTTP Connector element (%d AJP skipped)", path, skipped)
	}
	return pickErr("read tomcat", vals, c.name, "connector")
}

func tomcatConnector(src string, attrs map[string]string) (Value, error) {
	name := "connector " + attrs["port"]
	if attrs["port"] == "" {
		name = "connector at " + src
	}
	v := Value{Source: src, Name: name}
	if attrs["maxKeepAliveRequests"] == "1" {
		v.State = StateOff
		v.Explanation = `maxKeepAliveRequests="1": Tomcat closes every connection after one request`
		return v, nil
	}
	key := "keepAliveTimeout"
	raw, ok := attrs[key]
	if !ok {
		key = "connectionTimeout"
		raw, ok = attrs[key]
	}
	if !ok {
		v.State, v.Duration, v.Default = StateFinite, tomcatIdleDefault, true
		v.Explanation = "keepAliveTimeout and connectionTimeout not set: Tomcat's default 60000ms"
		return v, nil
	}
	raw = strings.TrimSpace(raw)
	setting := fmt.Sprintf("%s=%q", key, raw)
	if key == "connectionTimeout" {
		setting = "keepAliveTimeout not set, so " + setting + " applies"
	}
	if raw == "-1" {
		v.State = StateUnbounded
		v.Explanation = setting + ": no timeout"
		return v, nil
	}
	d, err := parseWholeUnits(raw, time.Millisecond, "milliseconds")
	if err != nil {
		return Value{}, fmt.Errorf("%s: %s %w", src, key, err)
	}
	if d == 0 {
		v.State = StateUnbounded
		v.Explanation = setting + ": no timeout"
		return v, nil
	}
	v.State, v.Duration = StateFinite, d
	v.Explanation = setting + " (milliseconds, Tomcat's unit)"
	return v, nil
}
