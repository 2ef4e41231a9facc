//! Tables for people: how each view document of `cnpg_backup_app::views` is shown with
//! `-o table` (the default). JSON and YAML are the documents themselves.

use std::io::{self, Write};

use cnpg_backup_app::views::{
    BackupNowView, Catalog, ConfigShow, IntentView, Preflight, ReconcileView, RestoreList,
    RestorePlanView, RestoreView, RetentionCheck, SchedulePreview, Status, rfc3339,
};

use crate::output::{Table, columns, or_dash};

impl Table for SchedulePreview {
    fn table(&self, w: &mut dyn Write) -> io::Result<()> {
        writeln!(w, "cron: {}  ({})", self.cron, self.description)?;
        writeln!(w, "next runs (UTC):")?;
        for n in &self.next {
            writeln!(w, "  {n}")?;
        }
        for warning in &self.warnings {
            writeln!(w, "warning: {warning}")?;
        }
        Ok(())
    }
}

impl Table for RetentionCheck {
    fn table(&self, w: &mut dyn Write) -> io::Result<()> {
        columns(
            w,
            &["VALUE", "BARMAN"],
            &[vec![self.value.clone(), self.barman.clone()]],
        )
    }
}

impl Table for ConfigShow {
    fn table(&self, w: &mut dyn Write) -> io::Result<()> {
        let a = &self.settings.automation;
        writeln!(w, "target:      {}", self.destination_path)?;
        writeln!(
            w,
            "automation:  {}{}",
            if a.enabled { "enabled" } else { "disabled" },
            if a.suspend { " (suspended)" } else { "" }
        )?;
        writeln!(w, "schedule:    {} (UTC)", self.cron)?;
        writeln!(w, "retention:   {} ({})", a.retention, self.retention)?;
        writeln!(w)?;
        let rows: Vec<Vec<String>> = self
            .planes
            .iter()
            .map(|p| {
                vec![
                    p.plane.clone(),
                    p.cluster.clone(),
                    p.server_name.clone(),
                    or_dash(p.scheduled_backup.clone()),
                ]
            })
            .collect();
        columns(
            w,
            &["PLANE", "CLUSTER", "SERVER", "SCHEDULED BACKUP"],
            &rows,
        )?;
        for warning in &self.warnings {
            writeln!(w, "warning: {warning}")?;
        }
        Ok(())
    }
}

impl Table for Catalog {
    fn table(&self, w: &mut dyn Write) -> io::Result<()> {
        if self.0.is_empty() {
            return writeln!(w, "no backups");
        }
        let rows: Vec<Vec<String>> = self
            .0
            .iter()
            .map(|r| {
                vec![
                    r.name.clone(),
                    or_dash(r.plane.clone()),
                    or_dash(r.phase.clone()),
                    or_dash(r.ended_at.clone()),
                    or_dash(r.backup_set_id.clone()),
                    or_dash(r.app_version.clone()),
                    format!("{:?}", r.storage).to_lowercase(),
                    if r.named_restore_ready {
                        "yes".to_owned()
                    } else if let Some(e) = &r.error {
                        format!("no: {e}")
                    } else {
                        format!("no: {}", r.not_ready_reasons.join(", "))
                    },
                ]
            })
            .collect();
        columns(
            w,
            &[
                "NAME", "PLANE", "PHASE", "ENDED", "SET", "VERSION", "STORAGE", "READY",
            ],
            &rows,
        )?;
        // What could not be read without failing a row (a provenance record in the bucket).
        for r in &self.0 {
            for warning in &r.warnings {
                writeln!(w, "warning: {}: {warning}", r.name)?;
            }
        }
        Ok(())
    }
}

fn verdict_cell(v: &str) -> String {
    use crate::output::style::{GREEN, RED, YELLOW, paint};
    match v {
        "passed" => paint(GREEN, "passed "),
        "failed" => paint(RED, "FAILED "),
        other => paint(YELLOW, &format!("{other:<7}")),
    }
}

fn write_steps(p: &Preflight, w: &mut dyn Write) -> io::Result<()> {
    for s in &p.steps {
        writeln!(
            w,
            "  {} {:<26} {:>6} ms  {}",
            verdict_cell(&s.verdict),
            s.check,
            s.duration,
            s.detail
        )?;
    }
    Ok(())
}

impl Table for Preflight {
    fn table(&self, w: &mut dyn Write) -> io::Result<()> {
        writeln!(w, "preflight: {}", self.state)?;
        write_steps(self, w)
    }
}

impl Table for Status {
    fn table(&self, w: &mut dyn Write) -> io::Result<()> {
        use crate::output::style::{GREEN, RED, YELLOW, paint};
        let r = &self.reconcile;
        let badge = match r.state.as_str() {
            "ok" => paint(GREEN, "ok"),
            "error" => paint(RED, "error"),
            _ => paint(YELLOW, "not run yet"),
        };
        writeln!(
            w,
            "reconcile: {badge}   last: {}",
            or_dash(r.last_reconcile.clone())
        )?;
        if let Some(e) = &r.error {
            writeln!(w, "  error: {e}")?;
        }
        for p in &r.planes {
            writeln!(
                w,
                "  {:<7} {:<20} {:<12} writes {}{}",
                p.plane,
                p.cluster,
                p.state,
                p.writes,
                p.error
                    .as_deref()
                    .map(|e| format!("  {e}"))
                    .unwrap_or_default()
            )?;
        }
        for warning in &r.warnings {
            writeln!(w, "  warning: {warning}")?;
        }
        let p = &self.preflight;
        let badge = match p.state.as_str() {
            "ok" => paint(GREEN, "ok"),
            "failed" => paint(RED, "failed"),
            _ => paint(YELLOW, "not run"),
        };
        writeln!(
            w,
            "preflight: {badge}   last: {}",
            or_dash(p.ran_at.clone())
        )?;
        write_steps(p, w)?;
        if self.backups.is_empty() {
            return Ok(());
        }
        writeln!(w, "backups:")?;
        for b in &self.backups {
            let health = match b.health.as_str() {
                "ok" => paint(GREEN, "ok"),
                "failing" => paint(RED, "failing"),
                "overdue" => paint(RED, "overdue"),
                "no_backup_yet" => paint(YELLOW, "no backup yet"),
                _ => paint(YELLOW, "not scheduled"),
            };
            let last = match (&b.last_completed, b.age_seconds) {
                (Some(m), Some(age)) => format!("last {} ({} ago)", m.name, ago(age)),
                _ => "no completed backup".to_owned(),
            };
            let next = match (&b.next_run, b.schedule.as_str()) {
                (Some(t), _) => format!("next {t}"),
                (None, s) => format!("schedule {}", s.replace('_', " ")),
            };
            writeln!(
                w,
                "  {:<7} {:<20} {health}   {last}   {next}",
                b.plane, b.cluster
            )?;
            if let Some(f) = &b.last_failure {
                writeln!(
                    w,
                    "          last failure {} at {}: {}",
                    f.name,
                    or_dash(f.at.clone()),
                    f.reason.as_deref().unwrap_or("no reason given")
                )?;
            }
            if let Some(r) = &b.in_progress {
                writeln!(w, "          in progress {r}")?;
            }
        }
        Ok(())
    }
}

/// A duration in seconds for people: `45s`, `12m`, `5h 3m`, `2d 4h`.
fn ago(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

impl Table for ReconcileView {
    fn table(&self, w: &mut dyn Write) -> io::Result<()> {
        writeln!(
            w,
            "reconcile: {}   at {}",
            self.state,
            or_dash(self.last_reconcile.clone())
        )?;
        if let Some(e) = &self.error {
            writeln!(w, "  error: {e}")?;
        }
        let rows: Vec<Vec<String>> = self
            .planes
            .iter()
            .map(|p| {
                vec![
                    p.plane.clone(),
                    p.cluster.clone(),
                    p.state.clone(),
                    p.writes.to_string(),
                    or_dash(p.error.clone()),
                ]
            })
            .collect();
        columns(w, &["PLANE", "CLUSTER", "STATE", "WRITES", "ERROR"], &rows)?;
        for warning in &self.warnings {
            writeln!(w, "warning: {warning}")?;
        }
        Ok(())
    }
}

impl Table for BackupNowView {
    fn table(&self, w: &mut dyn Write) -> io::Result<()> {
        let rows: Vec<Vec<String>> = self
            .0
            .iter()
            .map(|b| {
                vec![
                    b.name.clone(),
                    b.plane.clone(),
                    b.cluster.clone(),
                    b.backup_set_id.clone(),
                    or_dash(b.app_version.clone()),
                ]
            })
            .collect();
        columns(w, &["BACKUP", "PLANE", "CLUSTER", "SET", "VERSION"], &rows)
    }
}

impl Table for RestorePlanView {
    fn table(&self, w: &mut dyn Write) -> io::Result<()> {
        writeln!(w, "restore {} (plan only: nothing was changed)", self.id)?;
        for p in &self.planes {
            writeln!(
                w,
                "  {:<7} recovery cluster {} from {} (drift: {})",
                p.plane, p.recovery_cluster, p.target.text, p.drift
            )?;
        }
        writeln!(w, "stage one creates:        {}", self.creates.join(", "))?;
        writeln!(
            w,
            "stage two deletes live:   {}",
            self.deletes_live.join(", ")
        )?;
        writeln!(w, "stage two recreates:      {}", self.recreates.join(", "))?;
        writeln!(
            w,
            "after success removes:    {}",
            if self.cleanup.is_empty() {
                "nothing (recovery clusters kept)".to_owned()
            } else {
                self.cleanup.join(", ")
            }
        )?;
        for o in &self.overrides {
            writeln!(w, "override: {o}")?;
        }
        Ok(())
    }
}

impl Table for RestoreView {
    fn table(&self, w: &mut dyn Write) -> io::Result<()> {
        writeln!(w, "restore {}: {}", self.id, self.phase)?;
        if let Some(f) = &self.failure {
            writeln!(
                w,
                "  failed in {}: {}{}",
                f.in_phase,
                f.reason,
                if f.retryable { " (retryable)" } else { "" }
            )?;
        }
        let rows: Vec<Vec<String>> = self
            .planes
            .iter()
            .map(|p| {
                vec![
                    p.plane.clone(),
                    p.recovery_cluster.clone(),
                    if p.recovery_ready {
                        "ready"
                    } else {
                        "not ready"
                    }
                    .to_owned(),
                    p.live.clone(),
                    or_dash(p.cutover_step.clone()),
                    or_dash(p.detail.clone()),
                ]
            })
            .collect();
        columns(
            w,
            &[
                "PLANE",
                "RECOVERY CLUSTER",
                "RECOVERY",
                "LIVE",
                "CUTOVER",
                "DETAIL",
            ],
            &rows,
        )?;
        if !self.audit.is_empty() {
            writeln!(w, "audit trail:")?;
            for a in &self.audit {
                writeln!(
                    w,
                    "  {}  {:<22} {}{}",
                    a.at,
                    a.kind,
                    a.text,
                    a.actor
                        .as_deref()
                        .map(|x| format!(" (by {x})"))
                        .unwrap_or_default()
                )?;
            }
        }
        if let Some(e) = &self.last_error {
            writeln!(w, "last error: {e}")?;
        }
        Ok(())
    }
}

impl Table for RestoreList {
    fn table(&self, w: &mut dyn Write) -> io::Result<()> {
        if self.0.is_empty() {
            return writeln!(w, "no restores");
        }
        let rows: Vec<Vec<String>> = self
            .0
            .iter()
            .map(|r| {
                vec![
                    r.id.clone(),
                    r.phase.clone(),
                    r.planes
                        .iter()
                        .map(|p| p.recovery_cluster.clone())
                        .collect::<Vec<_>>()
                        .join(", "),
                    r.created_at.clone(),
                    r.updated_at.clone(),
                ]
            })
            .collect();
        columns(
            w,
            &["ID", "PHASE", "RECOVERY CLUSTERS", "CREATED", "UPDATED"],
            &rows,
        )
    }
}

impl Table for IntentView {
    fn table(&self, w: &mut dyn Write) -> io::Result<()> {
        writeln!(w, "restore intent is valid")?;
        if let Some(id) = &self.intent.restore_id {
            writeln!(w, "  restore id: {id}")?;
        }
        for r in &self.recovery_clusters {
            let source = self
                .intent
                .spec
                .sources
                .get(
                    r.plane
                        .parse()
                        .unwrap_or(cnpg_backup_core::names::Plane::Admin),
                )
                .map(source_text)
                .unwrap_or_else(|| "-".to_owned());
            writeln!(w, "  {:<7} -> {:<28} from {source}", r.plane, r.cluster)?;
        }
        writeln!(
            w,
            "  stage-one acknowledgement: {}",
            if self.stage_one_acknowledged {
                "given"
            } else {
                "not given"
            }
        )?;
        writeln!(
            w,
            "  stage-two acknowledgement: {}",
            if self.stage_two_acknowledged {
                "given"
            } else {
                "not given"
            }
        )
    }
}

fn source_text(s: &cnpg_backup_core::restore::PlaneSource) -> String {
    use cnpg_backup_core::restore::PlaneSource;
    match s {
        PlaneSource::Backup { backup } => format!("backup {backup}"),
        PlaneSource::PointInTime {
            target_time,
            pinned_backup,
        } => match pinned_backup {
            Some(b) => format!("{} starting from backup {b}", rfc3339(*target_time)),
            None => rfc3339(*target_time),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `status` shows each plane at a glance: verdict, last completed backup and its age, next
    /// run, and the last failure with its reason (or that CNPG gave none).
    #[test]
    fn status_shows_each_plane_at_a_glance_with_the_last_failure_and_why() {
        let status: Status = serde_json::from_value(serde_json::json!({
            "reconcile": {"state": "ok", "lastReconcile": "2026-11-26T02:00:00Z", "error": null,
                          "planes": [], "warnings": []},
            "preflight": {"state": "not_run", "ranAt": null, "steps": []},
            "backups": [
                {"plane": "admin", "cluster": "cnpg-admin", "health": "failing",
                 "lastCompleted": {"name": "cnpg-admin-a", "at": "2026-11-26T01:00:00Z"},
                 "ageSeconds": 7500,
                 "lastFailure": {"name": "cnpg-admin-b", "at": "2026-11-26T02:00:00Z",
                                 "reason": "can't upload: AccessDenied"},
                 "inProgress": null, "schedule": "active",
                 "nextRun": "2026-11-26T03:00:00Z", "intervalSeconds": 3600},
                {"plane": "tenant", "cluster": "cnpg-tenant", "health": "overdue",
                 "lastCompleted": null, "ageSeconds": null,
                 "lastFailure": {"name": "cnpg-tenant-b", "at": null},
                 "inProgress": "cnpg-tenant-c", "schedule": "suspended",
                 "nextRun": null, "intervalSeconds": null}
            ]
        }))
        .unwrap();
        let mut out = Vec::new();
        status.table(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        for line in [
            "last cnpg-admin-a (2h 5m ago)",
            "next 2026-11-26T03:00:00Z",
            "last failure cnpg-admin-b at 2026-11-26T02:00:00Z: can't upload: AccessDenied",
            "no completed backup",
            "schedule suspended",
            "last failure cnpg-tenant-b at -: no reason given",
            "in progress cnpg-tenant-c",
        ] {
            assert!(text.contains(line), "missing `{line}` in\n{text}");
        }
        assert!(
            text.contains("failing") && text.contains("overdue"),
            "{text}"
        );
    }
}
