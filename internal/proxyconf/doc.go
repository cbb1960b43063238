// Package proxyconf reads nginx, HAProxy, Caddy and Apache httpd
// configurations the way the proxies do (nginx: tokens, blocks, includes
// with globs; HAProxy: sections of lines, defaults sections; Caddy: a
// Caddyfile's tokens, blocks, snippets and imports, or its JSON; Apache:
// directives, sections, Define and Include), for the guard and the runner
// alike, and rewrites a user's configuration so racelab can run it: the
// upstream under test points at racelab's backend, every other address in
// the file at a closed loopback port, listeners at loopback ports racelab
// chose, paths into racelab's directory, and racelab's evidence log beside
// the user's. Rewrite reports every change it made, the request route that
// reaches the upstream under test, and the settings that decide pooling
// and retries, with the file and line they come from.
//
// No address or host name from a configuration is ever resolved or
// contacted here, and none survives in a rewritten file.
package proxyconf
