package guard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"
)

// launch is one command line found in a deployment file: a compose
// service's command, a Kubernetes container's command and args, a
// Procfile process or a shell command.
type launch struct {
	argv []string
	// env is the environment the file sets for it.
	env map[string]string
	// name tells launches apart: the compose service, the Kubernetes
	// workload and container ("web/app"), the Procfile process type.
	name string
	// src is file:line of the command.
	src string
	// argsOnly is a Kubernetes container with args but no command: the
	// image's entrypoint runs them.
	argsOnly bool
}

// Deployment file formats that hold command lines.
const (
	formatCompose    = "compose"
	formatKubernetes = "kubernetes"
	formatProcfile   = "procfile"
	formatShell      = "shell"
)

// yamlKey finds a Kubernetes manifest's apiVersion key in a file with no
// telling name (standard input).
var yamlKey = regexp.MustCompile(`(?m)^apiVersion:`)

// launchFormat says which format holds a file's command lines, or ""
// for a file the runtime's own reader takes (a config file, a
// Dockerfile, environment lines).
func launchFormat(name string, data []byte) string {
	base := path.Base(filepath.ToSlash(name))
	switch ext := strings.ToLower(path.Ext(base)); {
	case base == "Procfile" || strings.HasPrefix(base, "Procfile."):
		return formatProcfile
	case ext == ".yml" || ext == ".yaml":
		if bytes.Contains(data, []byte("apiVersion:")) && bytes.Contains(data, []byte("kind:")) {
			return formatKubernetes
		}
		return formatCompose
	case ext == ".sh" || ext == ".bash":
		return formatShell
	case bytes.HasPrefix(data, []byte("#!")):
		first, _, _ := bytes.Cut(data, []byte("\n"))
		if bytes.Contains(first, []byte("sh")) {
			return formatShell
		}
	case yamlKey.Match(data) && bytes.Contains(data, []byte("\nkind:")):
		return formatKubernetes
	case bytes.HasPrefix(data, []byte("services:")) || bytes.Contains(data, []byte("\nservices:")):
		return formatCompose
	}
	return ""
}

// launches extracts every command line of a deployment file.
func launches(format, src string, data []byte) ([]launch, error) {
	switch format {
	case formatProcfile:
		return procfileLaunches(src, data)
	case formatShell:
		return shellLaunches(src, 0, "", string(data), nil)
	}
	return yamlLaunches(format, src, data)
}

// procfileLaunches reads "type: command" lines.
func procfileLaunches(src string, data []byte) ([]launch, error) {
	var out []launch
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, cmd, ok := strings.Cut(line, ":")
		if !ok || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("%s:%d: want a Procfile line \"type: command\"", src, i+1)
		}
		ls, err := shellLaunches(src, i+1, name, cmd, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, ls...)
	}
	return out, nil
}

// shellLaunches parses script as POSIX shell and returns every simple
// command in it. line is the script's line in src (0: the script is the
// whole file, and its own line numbers count). Words are expanded as the
// shell would, without running anything: a variable the script does not
// set stays written as $NAME, a command substitution as written.
func shellLaunches(src string, line int, name, script string, env map[string]string) ([]launch, error) {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(script), src)
	if err != nil {
		var pe syntax.ParseError
		if errors.As(err, &pe) && line > 0 {
			return nil, fmt.Errorf("%s:%d: shell: %s", src, line, pe.Text)
		}
		return nil, fmt.Errorf("shell: %w", err)
	}
	vars := map[string]string{}
	for k, v := range env {
		vars[k] = v
	}
	var out []launch
	syntax.Walk(f, func(n syntax.Node) bool {
		switch x := n.(type) {
		case *syntax.DeclClause: // export A=1
			for _, a := range x.Args {
				if a.Name != nil && a.Value != nil {
					vars[a.Name.Value] = shellWord(a.Value, vars)
				}
			}
		case *syntax.CallExpr:
			local := map[string]string{}
			for _, a := range x.Assigns {
				if a.Name == nil {
					continue
				}
				v := ""
				if a.Value != nil {
					v = shellWord(a.Value, vars)
				}
				if len(x.Args) == 0 {
					vars[a.Name.Value] = v // A=1 on its own line
				} else {
					local[a.Name.Value] = v
				}
			}
			if len(x.Args) == 0 {
				return true
			}
			l := launch{name: name, env: mergeEnv(vars, local)}
			for _, w := range x.Args {
				l.argv = append(l.argv, shellWord(w, vars))
			}
			at := line
			if at == 0 {
				at = int(x.Pos().Line())
			}
			l.src = fmt.Sprintf("%s:%d", src, at)
			out = append(out, l)
		}
		return true
	})
	return out, nil
}

// shellWord expands one word with the variables set so far; what cannot
// be expanded without running something stays as written.
func shellWord(w *syntax.Word, vars map[string]string) string {
	cfg := &expand.Config{Env: expand.FuncEnviron(func(name string) string {
		if v, ok := vars[name]; ok {
			return v
		}
		return "$" + name
	})}
	s, err := expand.Literal(cfg, w)
	if err != nil {
		var b strings.Builder
		_ = syntax.NewPrinter().Print(&b, w)
		return b.String()
	}
	return s
}

func mergeEnv(a, b map[string]string) map[string]string {
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// yamlLaunches reads a compose file's services or Kubernetes manifests
// (every document of the file).
func yamlLaunches(format, src string, data []byte) ([]launch, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []launch
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: YAML: %w", src, err)
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		var ls []launch
		if format == formatCompose {
			ls, err = composeLaunches(src, root)
		} else {
			ls, err = kubeLaunches(src, root)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, ls...)
	}
	return out, nil
}

// get returns the value of key in a mapping node.
func get(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// getPath follows keys through nested mappings.
func getPath(n *yaml.Node, keys ...string) *yaml.Node {
	for _, k := range keys {
		n = get(n, k)
	}
	return n
}

// commandWords is a command given as a YAML list, or as a string that compose
// splits into words the way a shell would (without running one).
func commandWords(src string, n *yaml.Node) ([]string, error) {
	switch n.Kind {
	case yaml.SequenceNode:
		var out []string
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("%s:%d: want a list of strings", src, e.Line)
			}
			out = append(out, e.Value)
		}
		return out, nil
	case yaml.ScalarNode:
		ls, err := shellLaunches(src, n.Line, "", n.Value, nil)
		if err != nil {
			return nil, err
		}
		if len(ls) != 1 {
			return []string{"sh", "-c", n.Value}, nil
		}
		return ls[0].argv, nil
	}
	return nil, fmt.Errorf("%s:%d: want a command as a string or a list", src, n.Line)
}

// envOf reads an environment as a mapping or a list of NAME=VALUE
// (compose), or a list of {name, value} (Kubernetes).
func envOf(n *yaml.Node) map[string]string {
	env := map[string]string{}
	if n == nil {
		return env
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			env[n.Content[i].Value] = n.Content[i+1].Value
		}
	case yaml.SequenceNode:
		for _, e := range n.Content {
			if e.Kind == yaml.ScalarNode {
				k, v, _ := strings.Cut(e.Value, "=")
				env[k] = v
			} else if name := get(e, "name"); name != nil {
				if v := get(e, "value"); v != nil {
					env[name.Value] = v.Value
				}
			}
		}
	}
	return env
}

// composeLaunches reads every service's entrypoint and command.
func composeLaunches(src string, root *yaml.Node) ([]launch, error) {
	services := get(root, "services")
	if services == nil || services.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: not a compose file: no services mapping", src)
	}
	var out []launch
	for i := 0; i+1 < len(services.Content); i += 2 {
		name, svc := services.Content[i], services.Content[i+1]
		l := launch{name: name.Value, env: envOf(get(svc, "environment")), src: fmt.Sprintf("%s:%d", src, name.Line)}
		for _, key := range []string{"entrypoint", "command"} {
			n := get(svc, key)
			if n == nil {
				continue
			}
			w, err := commandWords(src, n)
			if err != nil {
				return nil, err
			}
			l.argv = append(l.argv, w...)
			l.src = fmt.Sprintf("%s:%d", src, n.Line)
		}
		out = append(out, l)
	}
	return out, nil
}

// podSpecPaths is where each workload kind keeps its pod spec.
var podSpecPaths = map[string][]string{
	"Pod":                   {"spec"},
	"Deployment":            {"spec", "template", "spec"},
	"StatefulSet":           {"spec", "template", "spec"},
	"DaemonSet":             {"spec", "template", "spec"},
	"ReplicaSet":            {"spec", "template", "spec"},
	"ReplicationController": {"spec", "template", "spec"},
	"Job":                   {"spec", "template", "spec"},
	"CronJob":               {"spec", "jobTemplate", "spec", "template", "spec"},
	"PodTemplate":           {"template", "spec"},
}

// kubeLaunches reads the containers of one manifest (a List's items too).
func kubeLaunches(src string, root *yaml.Node) ([]launch, error) {
	kind := get(root, "kind")
	if kind == nil {
		return nil, nil
	}
	if kind.Value == "List" {
		var out []launch
		if items := get(root, "items"); items != nil {
			for _, it := range items.Content {
				ls, err := kubeLaunches(src, it)
				if err != nil {
					return nil, err
				}
				out = append(out, ls...)
			}
		}
		return out, nil
	}
	p, ok := podSpecPaths[kind.Value]
	if !ok {
		return nil, nil // a Service, a ConfigMap: no containers
	}
	workload := kind.Value
	if n := getPath(root, "metadata", "name"); n != nil {
		workload = n.Value
	}
	containers := get(getPath(root, p...), "containers")
	if containers == nil {
		return nil, nil
	}
	var out []launch
	for _, c := range containers.Content {
		name := workload
		if n := get(c, "name"); n != nil {
			name += "/" + n.Value
		}
		l := launch{name: name, env: envOf(get(c, "env")), src: fmt.Sprintf("%s:%d", src, c.Line)}
		cmd, args := get(c, "command"), get(c, "args")
		for _, n := range []*yaml.Node{cmd, args} {
			if n == nil {
				continue
			}
			if n.Kind != yaml.SequenceNode {
				return nil, fmt.Errorf("%s:%d: container %s: command and args are lists of strings", src, n.Line, name)
			}
			w, err := commandWords(src, n)
			if err != nil {
				return nil, err
			}
			l.argv = append(l.argv, w...)
			l.src = fmt.Sprintf("%s:%d", src, n.Line)
		}
		l.argsOnly = cmd == nil && args != nil
		out = append(out, l)
	}
	return out, nil
}

// shells run their -c argument as a script.
var shells = []string{"sh", "bash", "dash", "ash", "zsh"}

// unwrapShells replaces "sh -c SCRIPT" launches by the commands of the
// script, keeping their name, environment and source.
func unwrapShells(ls []launch, depth int) ([]launch, error) {
	var out []launch
	for _, l := range ls {
		script, ok := shellScript(l.argv)
		if !ok || depth > 4 {
			out = append(out, l)
			continue
		}
		file, line := splitSrc(l.src)
		inner, err := shellLaunches(file, line, l.name, script, l.env)
		if err != nil {
			return nil, err
		}
		inner, err = unwrapShells(inner, depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, inner...)
	}
	return out, nil
}

// shellScript returns SCRIPT of "[wrappers...] sh -c SCRIPT".
func shellScript(argv []string) (string, bool) {
	for i, a := range argv {
		if !slices.Contains(shells, path.Base(a)) {
			continue
		}
		for j := i + 1; j < len(argv)-1; j++ {
			if argv[j] == "-c" || (strings.HasPrefix(argv[j], "-") && strings.HasSuffix(argv[j], "c") && !strings.HasPrefix(argv[j], "--")) {
				return argv[j+1], true
			}
		}
		return "", false
	}
	return "", false
}

// splitSrc splits "file:line".
func splitSrc(src string) (string, int) {
	i := strings.LastIndexByte(src, ':')
	if i < 0 {
		return src, 0
	}
	n := 0
	for _, c := range src[i+1:] {
		if c < '0' || c > '9' {
			return src, 0
		}
		n = n*10 + int(c-'0')
	}
	return src[:i], n
}
