//! In-memory implementations of every port: the test fakes and the CLI's embedded default
//! (a CNPG simulator driven by a simulated clock).
//!
//! FOUNDATION: filled in by issue 3.
