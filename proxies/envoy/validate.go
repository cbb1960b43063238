package envoy

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	// The typed configs a racelab bootstrap packs into Any fields. Linking
	// them registers their types, so protojson can resolve their type URLs
	// and ValidateBootstrap can unpack and check them.
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/file/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
)

// Problem is one way a bootstrap breaks Envoy's schema.
type Problem struct {
	// Pos is where in the bootstrap's text the problem sits: the field,
	// element or nearest spelled-out ancestor (zero when unknown).
	Pos Pos
	// Path names the field, in Envoy's field names, with list elements by
	// their name where they have one:
	// static_resources.clusters["racelab_backend"].connect_timeout.
	// Inside a typed config the type follows in parentheses.
	Path string
	// Message says what is wrong.
	Message string
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Pos.Line > 0 {
		b.WriteString(p.Pos.String())
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError lists every problem ValidateBootstrap found.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = p.String()
	}
	if len(msgs) == 1 {
		return "envoy bootstrap: " + msgs[0]
	}
	return fmt.Sprintf("envoy bootstrap: %d problems:\n  %s", len(msgs), strings.Join(msgs, "\n  "))
}

// ValidateBootstrap checks a bootstrap (YAML or JSON) against Envoy's own
// schema, offline. It converts YAML to JSON the way Envoy does, parses the
// result strictly into envoy.config.bootstrap.v3.Bootstrap (an unknown
// field, a bad enum name, a malformed duration or an unresolvable type URL
// is an error), runs every message's protoc-gen-validate rules, unpacks
// every Any into its registered type and validates that too, rejects
// negative durations as Envoy does, and compiles every safe_regex. It then
// checks what the schema cannot say but Envoy refuses to start on: that
// each typed config suits its slot (a network filter, an HTTP filter, an
// access logger, upstream protocol options), that listener and cluster
// names are unique, that every route names a static cluster, and that
// static endpoints are IP addresses.
//
// The error is a *ValidationError; each problem gives its line, its field
// path and the reason. Types not linked into racelab (extensions it does
// not render) cannot be resolved and are reported as such.
func ValidateBootstrap(data []byte) error {
	doc, err := yamlToJSON(data)
	if err != nil {
		return &ValidationError{Problems: []Problem{{Message: err.Error()}}}
	}
	var b bootstrapv3.Bootstrap
	if err := (protojson.UnmarshalOptions{}).Unmarshal(doc.data, &b); err != nil {
		return &ValidationError{Problems: []Problem{parseProblem(err, doc)}}
	}
	w := &walker{doc: doc}
	w.message(b.ProtoReflect(), "", "")
	checkReferences(&b, w)
	if len(w.problems) == 0 {
		return nil
	}
	sort.SliceStable(w.problems, func(i, j int) bool {
		a, b := w.problems[i].Pos, w.problems[j].Pos
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return &ValidationError{Problems: w.problems}
}

var jsonPosRE = regexp.MustCompile(`\(line (\d+):(\d+)\): `)

// parseProblem maps a protojson error on the converted JSON back to the
// YAML line and field path it came from.
func parseProblem(err error, doc *jsonDoc) Problem {
	msg := strings.TrimPrefix(err.Error(), "proto: ")
	m := jsonPosRE.FindStringSubmatchIndex(msg)
	if m == nil {
		return Problem{Message: msg}
	}
	line, _ := strconv.Atoi(msg[m[2]:m[3]])
	pos, path := doc.origin(line)
	head, rest := strings.TrimSpace(msg[:m[0]]), msg[m[1]:]
	if head != "" {
		rest = head + ": " + rest
	}
	return Problem{Pos: pos, Path: path, Message: rest}
}

// walker visits every message of a parsed bootstrap, Any contents
// included. key is the message's JSON path (to find its position); name
// is the path shown to people.
type walker struct {
	doc      *jsonDoc
	problems []Problem
	reported map[string]bool // paths with a problem
}

func (w *walker) add(key, name, msg string) {
	w.problems = append(w.problems, Problem{Pos: w.doc.lookup(key), Path: name, Message: msg})
	if w.reported == nil {
		w.reported = make(map[string]bool)
	}
	w.reported[name] = true
}

func joinPath(base, field string) string {
	if base == "" {
		return field
	}
	return base + "." + field
}

func (w *walker) message(m protoreflect.Message, key, name string) {
	md := m.Descriptor()
	switch md.FullName() {
	case "google.protobuf.Duration":
		w.duration(m, key, name)
		return
	case "google.protobuf.Any":
		w.anyMessage(m, key, name)
		return
	case "envoy.type.matcher.v3.RegexMatcher":
		w.regex(m, key, name)
	}
	if v, ok := m.Interface().(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			w.rules(err, md, key, name)
		}
	}
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		fkey, fname := joinPath(key, string(fd.Name())), joinPath(name, string(fd.Name()))
		v := m.Get(fd)
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() == nil {
				continue
			}
			if fd.MapKey().Kind() != protoreflect.StringKind {
				continue // Envoy has no message maps with other keys
			}
			mp := v.Map()
			keys := make([]string, 0, mp.Len())
			mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
				keys = append(keys, k.String())
				return true
			})
			sort.Strings(keys)
			for _, k := range keys {
				em := mp.Get(protoreflect.ValueOfString(k).MapKey()).Message()
				ekey, ename := fkey+"."+k, fmt.Sprintf("%s[%q]", fname, k)
				w.slot(md, fd, em, ekey, ename, k)
				w.message(em, ekey, ename)
			}
		case fd.IsList():
			if fd.Message() == nil {
				continue
			}
			l := v.List()
			for j := 0; j < l.Len(); j++ {
				em := l.Get(j).Message()
				ekey, ename := fmt.Sprintf("%s[%d]", fkey, j), elementName(fname, j, em)
				w.message(em, ekey, ename)
			}
		case fd.Message() != nil:
			w.slot(md, fd, v.Message(), fkey, fname, "")
			w.message(v.Message(), fkey, fname)
		}
	}
}

// elementName names a list element by its name field when it has one.
func elementName(list string, i int, m protoreflect.Message) string {
	if fd := m.Descriptor().Fields().ByName("name"); fd != nil && fd.Kind() == protoreflect.StringKind && !fd.IsList() {
		if n := m.Get(fd).String(); n != "" {
			return fmt.Sprintf("%s[%q]", list, n)
		}
	}
	return fmt.Sprintf("%s[%d]", list, i)
}

// duration rejects what Envoy's duration check rejects: a negative value.
func (w *walker) duration(m protoreflect.Message, key, name string) {
	d, ok := m.Interface().(*durationpb.Duration)
	if !ok {
		return
	}
	// A field rule ("must be greater than 0s") may have said it already.
	if (d.GetSeconds() < 0 || d.GetNanos() < 0) && !w.reported[name] {
		w.add(key, name, fmt.Sprintf("invalid duration %v: Envoy expects a non-negative duration", d.AsDuration()))
	}
}

// regex compiles a safe_regex with Go's regexp, whose syntax is RE2's,
// the engine Envoy uses.
func (w *walker) regex(m protoreflect.Message, key, name string) {
	fd := m.Descriptor().Fields().ByName("regex")
	if fd == nil || fd.Kind() != protoreflect.StringKind {
		return
	}
	if _, err := regexp.Compile(m.Get(fd).String()); err != nil {
		w.add(joinPath(key, "regex"), joinPath(name, "regex"), fmt.Sprintf("invalid RE2 regex: %v", err))
	}
}

// anyMessage unpacks an Any into its registered type and walks it.
func (w *walker) anyMessage(m protoreflect.Message, key, name string) {
	a, ok := m.Interface().(*anypb.Any)
	if !ok || a.GetTypeUrl() == "" {
		return
	}
	inner, err := a.UnmarshalNew()
	if err != nil {
		w.add(key, name, fmt.Sprintf("typed config %s: %v", a.GetTypeUrl(), err))
		return
	}
	w.message(inner.ProtoReflect(), key, fmt.Sprintf("%s(%s)", name, inner.ProtoReflect().Descriptor().Name()))
}

// pgvError is the shape of every protoc-gen-validate error.
type pgvError interface {
	Field() string
	Reason() string
	Cause() error
}

const embeddedFailure = "embedded message failed validation"

// rules reports m's own rule violations. A violation inside an embedded
// message is left for the walk to report where it happens, with its own
// position.
func (w *walker) rules(err error, md protoreflect.MessageDescriptor, key, name string) {
	if multi, ok := err.(interface{ AllErrors() []error }); ok {
		for _, e := range multi.AllErrors() {
			w.rules(e, md, key, name)
		}
		return
	}
	var ve pgvError
	if !errors.As(err, &ve) {
		w.add(key, name, err.Error())
		return
	}
	if ve.Reason() == embeddedFailure {
		return
	}
	field := protoFieldName(md, ve.Field())
	msg := ve.Reason()
	if c := ve.Cause(); c != nil {
		msg += ": " + c.Error()
	}
	w.add(joinPath(key, field), joinPath(name, field), msg)
}

// protoFieldName turns a validator's Go field name ("ConnectTimeout",
// "Clusters[0]") into Envoy's ("connect_timeout", "clusters[0]").
func protoFieldName(md protoreflect.MessageDescriptor, goName string) string {
	base, suffix := goName, ""
	if i := strings.IndexByte(goName, '['); i >= 0 {
		base, suffix = goName[:i], goName[i:]
	}
	squash := func(s string) string { return strings.ToLower(strings.ReplaceAll(s, "_", "")) }
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		if n := string(fields.Get(i).Name()); squash(n) == squash(base) {
			return n + suffix
		}
	}
	oneofs := md.Oneofs()
	for i := 0; i < oneofs.Len(); i++ {
		if n := string(oneofs.Get(i).Name()); squash(n) == squash(base) {
			return n + suffix
		}
	}
	return goName
}

// A slot is an Any field whose type Envoy looks up in one extension
// category. An offline check can only know the types linked here; a type
// outside the category is a config Envoy would refuse to load.
type slot struct {
	category string
	types    []protoreflect.FullName
	// keyed: the map key must name the type's extension (protocol options).
	keyed map[string]protoreflect.FullName
}

var (
	networkFilters = slot{category: "network filter", types: []protoreflect.FullName{
		"envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
	}}
	httpFilters = slot{category: "HTTP filter", types: []protoreflect.FullName{
		"envoy.extensions.filters.http.router.v3.Router",
	}}
	accessLoggers = slot{category: "access logger", types: []protoreflect.FullName{
		"envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
		"envoy.extensions.access_loggers.stream.v3.StderrAccessLog",
		"envoy.extensions.access_loggers.file.v3.FileAccessLog",
	}}
	protocolOptions = slot{category: "upstream protocol options", keyed: map[string]protoreflect.FullName{
		httpOptionsExtName: "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
	}}
)

// slots maps "<message>.<field>" to the slot that field is.
var slots = map[string]slot{
	"envoy.config.listener.v3.Filter.typed_config":                                        networkFilters,
	"envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter.typed_config": httpFilters,
	"envoy.config.accesslog.v3.AccessLog.typed_config":                                    accessLoggers,
	"envoy.config.cluster.v3.Cluster.typed_extension_protocol_options":                    protocolOptions,
}

// slot checks that an Any in field fd of a parent message suits the field.
func (w *walker) slot(parent protoreflect.MessageDescriptor, fd protoreflect.FieldDescriptor, v protoreflect.Message, key, name, mapKey string) {
	s, ok := slots[string(parent.FullName())+"."+string(fd.Name())]
	if !ok {
		return
	}
	a, ok := v.Interface().(*anypb.Any)
	if !ok || a.GetTypeUrl() == "" {
		w.add(key, name, fmt.Sprintf("a %s needs a typed config", s.category))
		return
	}
	got := a.MessageName()
	if s.keyed != nil {
		want, known := s.keyed[mapKey]
		switch {
		case !known:
			w.add(key, name, fmt.Sprintf("no %s are known by the name %q", s.category, mapKey))
		case got != want:
			w.add(key, name, fmt.Sprintf("%q takes %s, not %s", mapKey, want, got))
		}
		return
	}
	for _, t := range s.types {
		if got == t {
			return
		}
	}
	w.add(key, name, fmt.Sprintf("%s is not a %s (want one of %s)", got, s.category, joinNames(s.types)))
}

func joinNames(names []protoreflect.FullName) string {
	s := make([]string, len(names))
	for i, n := range names {
		s[i] = string(n)
	}
	return strings.Join(s, ", ")
}

// unpack returns the message inside an Any, or nil.
func unpack(a *anypb.Any) proto.Message {
	if a == nil {
		return nil
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		return nil
	}
	return m
}
