//! One integration-test binary (faster to build and link than one per file).

mod fixtures;
mod store;
