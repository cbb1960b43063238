// Package results holds what a run produces: the manifest, one line per
// cell, and one Record per trial, streamed as JSON lines and flushed per
// trial so that an interrupted run leaves a valid, re-renderable file; and
// what is computed from them: per-cell summaries with failure rates and 95%
// Wilson intervals, and the terminal table.
package results
