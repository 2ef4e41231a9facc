//! Staged restores: the request, its guards, the acknowledgements, the state machine and the
//! restore intent document.
//!
//! - [`request`]: the restore request (mode, per-plane source, names, options);
//! - [`guard`]: every check made before anything is created ([`guard::validate`]);
//! - [`ack`]: the two acknowledgement sentences, the types that prove them, the audit trail;
//! - [`machine`]: the state machine (pure transitions returning actions);
//! - [`intent`]: the restore intent document (JSON) and its JSON Schema.
//!
//! Not here: talking to the world ([`crate::service`] performs the actions through the ports).

pub mod ack;
pub mod guard;
pub mod intent;
pub mod machine;
pub mod request;

pub use ack::{
    AckError, AuditEntry, AuditKind, STAGE_ONE_ACK, STAGE_TWO_ACK, StageOneAck, StageTwoAck,
};
pub use guard::{GuardContext, GuardError, ValidatedPlane, ValidatedRestore, validate};
pub use intent::{IntentError, RestoreIntent, intent_schema, parse_intent};
pub use machine::{
    Action, CutoverStep, MachineError, Observations, PhaseName, PlaneState, RestorePhase,
    RestoreRecord, StepState, Transition,
};
pub use request::{
    AfterSuccess, Overrides, PlaneSource, PlaneSources, RestoreMode, RestoreRequest,
    parse_target_time,
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::automation::BackupMethod;
use crate::catalog::BarmanBackupId;
use crate::names::{ClusterName, ObjectName, Plane, RestoreId, ServerName};

/// What a recovery replays to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RecoveryTarget {
    /// The end of a named backup.
    Backup {
        /// The Backup object's name (what the user picked).
        backup: ObjectName,
        /// Its Barman backup id (what CNPG's recovery uses: `recoveryTarget.backupID`).
        backup_id: BarmanBackupId,
    },
    /// A point in time.
    PointInTime {
        /// The target time.
        target_time: DateTime<Utc>,
        /// The backup to start from, when pinned.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backup_id: Option<BarmanBackupId>,
    },
}

/// Everything an adapter needs to create a recovery cluster, or to recreate a live one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RecoveryClusterSpec {
    /// The cluster to create.
    pub name: ClusterName,
    /// The plane it restores.
    pub plane: Plane,
    /// The restore it belongs to (labels and annotations link them).
    pub restore_id: RestoreId,
    /// The live cluster whose archive is read.
    pub source_cluster: ClusterName,
    /// The archive server name to read from.
    pub source_server: ServerName,
    /// What to replay to.
    pub target: RecoveryTarget,
    /// The archive server name the new cluster writes to: always fresh, never the source's.
    pub archive_server: ServerName,
    /// Instances (None: as the live cluster).
    pub instances: Option<u32>,
    /// In-tree or plugin.
    pub method: BackupMethod,
    /// Whether this is the recreated live cluster (stage two) rather than a temporary one.
    pub replaces_live: bool,
}

impl RecoveryClusterSpec {
    /// A spec with every field given.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: ClusterName,
        plane: Plane,
        restore_id: RestoreId,
        source_cluster: ClusterName,
        source_server: ServerName,
        target: RecoveryTarget,
        archive_server: ServerName,
        instances: Option<u32>,
        method: BackupMethod,
        replaces_live: bool,
    ) -> Self {
        Self {
            name,
            plane,
            restore_id,
            source_cluster,
            source_server,
            target,
            archive_server,
            instances,
            method,
            replaces_live,
        }
    }
}
