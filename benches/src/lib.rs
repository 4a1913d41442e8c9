//! Benchmarks for grt (see src/bin).
