//! Building a restore request from flags or an intent document.

use chrono::{DateTime, Utc};

use cnpg_backup_app::request::{check_offline, generated_id};
use cnpg_backup_core::drift::VersionPolicy;
use cnpg_backup_core::names::{ClusterName, ObjectName, Plane, RestoreId};
use cnpg_backup_core::restore::{
    AfterSuccess, PlaneSource, PlaneSources, RestoreIntent, RestoreMode, RestoreRequest,
    parse_target_time,
};

use crate::cli::{PlaneArg, RestoreRequestArgs, VersionPolicyArg};
use crate::exit::{CliError, ExitStatus};

/// A request with where it came from.
pub struct Requested {
    /// The restore id (None: generate one from the clock with [`Requested::id_at`]).
    pub id: Option<RestoreId>,
    /// The request.
    pub request: RestoreRequest,
    /// The intent document, when the request came from one.
    pub intent: Option<RestoreIntent>,
}

fn invalid(e: impl std::error::Error + 'static) -> CliError {
    CliError::invalid(&e)
}

impl Requested {
    /// The restore id: the one given, else generated from `now`.
    pub fn id_at(&self, now: DateTime<Utc>) -> RestoreId {
        self.id.clone().unwrap_or_else(|| generated_id(now))
    }
}

/// Builds the request (reading the intent, if any, once).
///
/// # Errors
/// Exit 2 when a flag or the intent is invalid; nothing has been contacted yet.
pub fn build(args: &RestoreRequestArgs) -> Result<Requested, CliError> {
    if let Some(path) = &args.intent {
        let intent = crate::cmd::intent::load(path)?;
        let id = match (&args.id, &intent.restore_id) {
            (Some(id), _) => Some(id.parse().map_err(invalid)?),
            (None, Some(id)) => Some(id.clone()),
            (None, None) => None,
        };
        return Ok(Requested {
            id,
            request: intent.spec.clone(),
            intent: Some(intent),
        });
    }
    let id = match &args.id {
        Some(id) => Some(id.parse().map_err(invalid)?),
        None => None,
    };
    let name: ClusterName = args
        .name
        .as_deref()
        .ok_or_else(|| CliError::new(ExitStatus::Invalid, "give `--name` or `--intent`"))?
        .parse()
        .map_err(invalid)?;
    let pit = args
        .point_in_time
        .as_deref()
        .map(parse_target_time)
        .transpose()
        .map_err(invalid)?;
    let source = |backup: Option<&String>, plane: Plane| -> Result<PlaneSource, CliError> {
        let backup: Option<ObjectName> = backup.map(|b| b.parse()).transpose().map_err(invalid)?;
        match (pit, backup) {
            (Some(target_time), pinned_backup) => Ok(PlaneSource::PointInTime {
                target_time,
                pinned_backup,
            }),
            (None, Some(backup)) => Ok(PlaneSource::Backup { backup }),
            (None, None) => Err(CliError::new(
                ExitStatus::Invalid,
                format!("no source for the {plane} plane"),
            )
            .hint(match args.plane {
                PlaneArg::Both => "give `--admin-backup` and `--tenant-backup` (see `cnpg-backup catalog`), or `--point-in-time`",
                _ => "give `--backup` (see `cnpg-backup catalog`) or `--point-in-time`",
            })),
        }
    };
    let (mode, sources) = match args.plane {
        PlaneArg::Both => {
            if args.backup.is_some() {
                return Err(CliError::new(
                    ExitStatus::Invalid,
                    "`--backup` names one plane's backup; with both planes give `--admin-backup` and `--tenant-backup`",
                ));
            }
            let mut sources = PlaneSources::default();
            sources.set(
                Plane::Admin,
                source(args.admin_backup.as_ref(), Plane::Admin)?,
            );
            sources.set(
                Plane::Tenant,
                source(args.tenant_backup.as_ref(), Plane::Tenant)?,
            );
            (RestoreMode::Full { base_name: name }, sources)
        }
        PlaneArg::Admin | PlaneArg::Tenant => {
            let plane = if args.plane == PlaneArg::Admin {
                Plane::Admin
            } else {
                Plane::Tenant
            };
            if args.admin_backup.is_some() || args.tenant_backup.is_some() {
                return Err(CliError::new(
                    ExitStatus::Invalid,
                    "`--admin-backup`/`--tenant-backup` are for both planes; with one plane give `--backup`",
                ));
            }
            let mut sources = PlaneSources::default();
            sources.set(plane, source(args.backup.as_ref(), plane)?);
            (
                RestoreMode::Single {
                    plane,
                    recovery_name: name,
                },
                sources,
            )
        }
    };
    let mut request = RestoreRequest::new(mode, sources);
    request.instances = args.instances;
    request.after_success = if args.keep_recovery_clusters {
        AfterSuccess::Keep
    } else {
        AfterSuccess::Cleanup
    };
    request.version_policy = match args.version_policy {
        VersionPolicyArg::Exact => VersionPolicy::Exact,
        VersionPolicyArg::SameMinor => VersionPolicy::SameMinor,
        VersionPolicyArg::SameMajor => VersionPolicy::SameMajor,
        VersionPolicyArg::AnyOlder => VersionPolicy::AnyOlder,
    };
    request.overrides.accept_set_mismatch = args.accept_set_mismatch;
    request.overrides.accept_unknown_version = args.accept_unknown_version;
    check_offline(&request)?;
    Ok(Requested {
        id,
        request,
        intent: None,
    })
}
