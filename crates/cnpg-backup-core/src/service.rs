//! Use-case services over the ports: backups (settings, reconcile, backup now, preflight,
//! catalog) and restores (plan, create, refresh, apply, abandon, cleanup).
//!
//! FOUNDATION: filled in by issue 3.
