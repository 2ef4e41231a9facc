//! The whole workflow on the in-memory CNPG simulator: settings, reconcile, backup now, catalog,
//! a staged full restore with both acknowledgements. No cluster needed.
//!
//! ```text
//! cargo run -p cnpg-backup-examples --example simulator
//! ```

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    let outcome = cnpg_backup_examples::simulated_restore(&mut out).await?;
    println!(
        "restore {:?} after {} backups",
        outcome.phase, outcome.backups
    );
    Ok(())
}
