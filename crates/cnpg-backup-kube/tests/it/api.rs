//! Kubernetes adapter tests against an in-memory API double.
