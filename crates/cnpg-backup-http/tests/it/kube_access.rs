//! Token and access reviews against the Kubernetes API (filled in below).
