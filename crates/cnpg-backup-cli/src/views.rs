//! The JSON/YAML contracts: one `Serialize` view type per document, camelCase field names.
//! Renaming a field here is a breaking change for scripts; the README documents each shape.

use std::io::{self, Write};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use cnpg_backup_core::schedule::SchedulePreset;

use crate::output::{Table, columns};

/// RFC 3339 UTC with a `Z`, second precision unless the time has a fraction.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// `schedule preview`: `{"cron", "preset", "next", "warnings"}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SchedulePreview {
    /// The six-field expression CNPG receives.
    pub cron: String,
    /// The preset the schedule is (null for a cron no preset produces).
    pub preset: Option<SchedulePreset>,
    /// The next fire times, RFC 3339 UTC.
    pub next: Vec<String>,
    /// Sentences about the schedule a user should know.
    pub warnings: Vec<String>,
}

impl Table for SchedulePreview {
    fn table(&self, w: &mut dyn Write) -> io::Result<()> {
        writeln!(w, "cron: {}", self.cron)?;
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

/// `retention check`: `{"value", "barman"}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionCheck {
    /// The canonical value, e.g. `30d`.
    pub value: String,
    /// Barman's form, e.g. `RECOVERY WINDOW OF 30 DAYS`.
    pub barman: String,
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

/// One plane as `config show` and `plan` describe it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanePlanView {
    /// The plane.
    pub plane: String,
    /// Its live cluster.
    pub cluster: String,
    /// Archive server name.
    pub server_name: String,
    /// Barman destination path.
    pub destination_path: String,
    /// Method.
    pub method: cnpg_backup_core::automation::BackupMethod,
    /// The plugin's ObjectStore name (plugin method).
    pub object_store: Option<String>,
    /// The ScheduledBackup name (null when automation is disabled).
    pub scheduled_backup: Option<String>,
    /// Its six-field cron.
    pub schedule: Option<String>,
    /// Barman retention.
    pub retention: String,
}

impl From<&cnpg_backup_core::automation::PlaneBackupPlan> for PlanePlanView {
    fn from(p: &cnpg_backup_core::automation::PlaneBackupPlan) -> Self {
        Self {
            plane: p.plane.to_string(),
            cluster: p.cluster.to_string(),
            server_name: p.server_name.to_string(),
            destination_path: p.destination_path.clone(),
            method: p.method,
            object_store: p.object_store_name.as_ref().map(ToString::to_string),
            scheduled_backup: p.scheduled_backup.as_ref().map(|s| s.name.to_string()),
            schedule: p.scheduled_backup.as_ref().map(|s| s.schedule.to_string()),
            retention: p.retention.barman(),
        }
    }
}

/// `config show` / `config validate`: the settings and what they derive.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigShow {
    /// The settings as read.
    pub settings: cnpg_backup_core::automation::BackupSettings,
    /// The six-field cron the schedule compiles to.
    pub cron: String,
    /// Barman's retention form.
    pub retention: String,
    /// Barman destination path.
    pub destination_path: String,
    /// Planes in scope.
    pub planes: Vec<PlanePlanView>,
    /// Warnings about the schedule.
    pub warnings: Vec<String>,
}

impl ConfigShow {
    /// The view of `settings` and their plan.
    pub fn new(
        settings: &cnpg_backup_core::automation::BackupSettings,
        plan: &cnpg_backup_core::automation::AutomationPlan,
    ) -> Self {
        let a = &settings.automation;
        Self {
            settings: settings.clone(),
            cron: a.schedule.cron().map(|c| c.to_string()).unwrap_or_default(),
            retention: a.retention.barman(),
            destination_path: settings.target.destination_path(),
            planes: plan.planes.iter().map(PlanePlanView::from).collect(),
            warnings: a
                .schedule
                .warnings()
                .into_iter()
                .map(|w| w.message)
                .collect(),
        }
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
                    crate::output::or_dash(p.scheduled_backup.clone()),
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
