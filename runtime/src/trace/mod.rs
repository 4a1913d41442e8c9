//! Watching the scheduler from outside it: Go's `GODEBUG=schedtrace` now
//! (`schedtrace.rs`); the timeline trace and the debugger's view of tasks
//! belong here too when they come.
//!
//! What lives here only reads the scheduler. Whatever it needs to see is
//! published by the scheduler where it already changes (atomics written on
//! transitions, the per-P task lists, the counts `Stats::of` reads), so that
//! nobody watching costs a plain store here and there, and somebody
//! watching changes little of what is watched.

pub mod schedtrace;
