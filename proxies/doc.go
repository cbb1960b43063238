// Package proxies is the contract every proxy adapter and runtime keeps.
//
// An Adapter renders a typed Spec into a Bundle (config files plus the
// arguments that run the proxy on them), reads the proxy's version and parses
// its log lines into Evidence keyed by the request id the driver sends. A
// runtime (package process, package container, or the embedded Go proxy)
// turns a Bundle into a running Instance. Keeping rendering apart from
// running lets any runtime run any adapter's config, and a user-supplied
// config run through the same runtimes and parsers.
//
// Every adapter configures exactly one pooled upstream connection: one
// worker or thread, a pool of one, a connection cap of one.
package proxies
