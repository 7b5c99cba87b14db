//! Benchmark support: locating the shared conformance data for benchmarks.
