//! The control loop a host embeds (`cnpg-backup-controller`), on the embedded default: a
//! dropped backup configuration is repaired and a restore moves to
//! `ready_for_promotion_checks`, with no command. No cluster needed.
//!
//! ```text
//! cargo run -p cnpg-backup-examples --example control_loop
//! ```
//! On a cluster a host runs `cnpg_backup_controller::kube::KubeLoop` instead: the same loop
//! over watches, with leader election on a Lease.

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut out = std::io::stdout();
    let outcome = cnpg_backup_examples::control_loop(&mut out).await?;
    println!("{outcome:?}");
    Ok(())
}
