//! Hookgate's benchmarks. See `benches/README.md`.
