//! The `cnpg-backup` command: a thin shell over the cnpg-backup library.

fn main() {}
