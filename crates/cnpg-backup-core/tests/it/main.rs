//! Integration tests of the core: the use-case services over the in-memory simulator.

mod engine_props;
mod guards;
mod harness;
mod scenario;
