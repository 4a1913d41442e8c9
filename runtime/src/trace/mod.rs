//! Watching the scheduler from outside it: Go's `GODEBUG=schedtrace`
//! (`schedtrace.rs`) and a timeline in Chrome's trace format, Go's
//! `go tool trace` (`timeline.rs`).
//!
//! What lives here only reads the scheduler. Whatever it needs to see is
//! published by the scheduler where it already changes (atomics written on
//! transitions, the per-P task lists, the counts `Stats::of` reads), so that
//! nobody watching costs a plain store here and there, and somebody
//! watching changes little of what is watched.

pub mod schedtrace;
pub mod timeline;
