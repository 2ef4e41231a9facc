//! The HTTP API of cnpg-backup (being built: see the next commits).
