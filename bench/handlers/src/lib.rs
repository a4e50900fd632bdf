//! Only benchmarks live here (`cargo bench -p handler-bench`).
