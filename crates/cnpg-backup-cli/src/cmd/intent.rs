//! `intent validate | schema`: restore intent documents, offline.

use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use cnpg_backup_core::restore::{RestoreIntent, intent_schema, parse_intent};

use crate::cli::IntentCommand;
use crate::exit::{CliError, CmdResult, ExitStatus};
use crate::output::{Output, Table, emit, emit_text};
use crate::settings;

pub fn run(cmd: &IntentCommand, format: Output) -> CmdResult {
    match cmd {
        IntentCommand::Validate { file } => {
            let intent = load(file)?;
            emit(format, &IntentView::new(&intent))?;
            Ok(ExitStatus::Success)
        }
        IntentCommand::Schema => {
            let schema = intent_schema();
            let text = match format {
                Output::Yaml => crate::output::to_yaml(&schema)?,
                Output::Table | Output::Json => {
                    let mut t =
                        serde_json::to_string_pretty(&schema).map_err(|e| CliError::world(&e))?;
                    t.push('\n');
                    t
                }
            };
            emit_text(&text)?;
            Ok(ExitStatus::Success)
        }
    }
}

/// Reads and parses an intent document (`-` for stdin).
///
/// # Errors
/// Exit 2 with the line, column and field path of the problem, or when the request fails a
/// check that needs no cluster (names, sources, instances).
pub fn load(file: &Path) -> Result<RestoreIntent, CliError> {
    let shown = file.display().to_string();
    // Read a little more than the limit so the core reports the size itself.
    let bytes = settings::read_bytes(
        file,
        cnpg_backup_core::restore::intent::INTENT_MAX_BYTES as u64 + 1,
    )?;
    let intent = parse_intent(&bytes)
        .map_err(|e| CliError::invalid(&e).context(format!("intent `{shown}` is invalid")))?;
    super::request::check_offline(&intent.spec)
        .map_err(|e| e.context(format!("intent `{shown}` is invalid")))?;
    Ok(intent)
}

/// `intent validate`: the normalized document and a summary.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IntentView {
    /// Always true (an invalid document exits 2).
    pub valid: bool,
    /// Recovery cluster of each plane.
    pub recovery_clusters: Vec<RecoveryName>,
    /// Whether the document carries each acknowledgement, and whether it is exact.
    pub stage_one_acknowledged: bool,
    /// Same for stage two.
    pub stage_two_acknowledged: bool,
    /// The document, normalized.
    pub intent: RestoreIntent,
}

/// A plane and its recovery cluster name.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryName {
    /// The plane.
    pub plane: String,
    /// The recovery cluster name.
    pub cluster: String,
}

impl IntentView {
    fn new(intent: &RestoreIntent) -> Self {
        let names = intent.spec.mode.recovery_names().unwrap_or_default();
        Self {
            valid: true,
            recovery_clusters: names
                .into_iter()
                .map(|(p, c)| RecoveryName {
                    plane: p.to_string(),
                    cluster: c.to_string(),
                })
                .collect(),
            stage_one_acknowledged: intent.stage_one_ack().is_ok(),
            stage_two_acknowledged: intent.stage_two_ack().is_ok(),
            intent: intent.clone(),
        }
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
            Some(b) => format!(
                "{} starting from backup {b}",
                crate::views::rfc3339(*target_time)
            ),
            None => crate::views::rfc3339(*target_time),
        },
    }
}
