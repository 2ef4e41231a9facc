//! The port contract suite: checks every implementation of a port must pass
//! (the in-memory fakes in unit tests, the real adapters in their integration tests).
//!
//! FOUNDATION: filled in with the ports' implementations.
