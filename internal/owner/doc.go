// Package owner makes sure nothing racelab starts outlives it.
//
// Every temporary directory, process group and container racelab creates
// carries an owner mark: the creating process's PID and start time, and
// the boot and PID namespace they are valid in (Mark). Two mechanisms
// use the marks:
//
//   - The keeper. The first time a process tracks something (Track), it
//     starts a keeper: its own executable, re-executed through
//     /proc/self/exe with an environment marker that this package's init
//     recognises (so a test binary works too), in a session of its own so
//     a signal to racelab's process group does not reach it. The keeper
//     holds the read end of a pipe; racelab writes every tracked thing to
//     it and releases it once removed. When the pipe reaches end of file
//     while things are still tracked — racelab died, even of SIGKILL — the
//     keeper kills their process groups (an nginx master's workers
//     included), force-removes their containers and removes their
//     directories, then exits. It costs one idle process per racelab
//     process that starts a proxy, and nothing otherwise.
//
//   - The sweep. When the keeper could not act (it was killed too, or the
//     machine was cut short), the next racelab invocation that starts
//     proxies, or racelab clean, removes what belongs to owners that are
//     gone (SweepLocal here; containers in package container). An owner is
//     gone when no process has its PID, or the process that has it
//     started at another time. Nothing is removed whose owner lives, or
//     that carries no owner mark, or whose owner ran in another boot or
//     PID namespace (another machine on a shared Docker engine, or a
//     sibling container): there the PID says nothing.
package owner
