//! Restore requests and intents before they reach a cluster: the offline checks every adapter
//! runs first, generated restore ids, and reading intent documents.

use std::path::Path;

use chrono::{DateTime, Utc};

use cnpg_backup_core::names::{Plane, RestoreId};
use cnpg_backup_core::restore::request::MAX_INSTANCES;
use cnpg_backup_core::restore::{GuardError, RestoreIntent, RestoreRequest, parse_intent};

use crate::error::{AppError, guard_category};

/// The restore id `r-YYYYMMDDHHMMSS` for `now`.
#[allow(clippy::expect_used)] // `r-` and 14 digits always form a valid DNS label.
pub fn generated_id(now: DateTime<Utc>) -> RestoreId {
    format!("r-{}", now.format("%Y%m%d%H%M%S"))
        .parse()
        .expect("a generated restore id is a valid DNS label")
}

/// The checks of a request that need no cluster: the recovery names (derived full-mode names
/// too), a source for exactly the planes the mode restores, and the instances bound. The core's
/// guard repeats them with the cluster's state; running them first keeps invalid input away from
/// the cluster and makes `intent validate` mean what it says.
///
/// # Errors
/// The [`GuardError`] the core's guard would return, in its category (invalid, or refused for a
/// names clash).
pub fn check_offline(request: &RestoreRequest) -> Result<(), AppError> {
    let fail = |g: GuardError| AppError::from_error(guard_category(&g), &g);
    request
        .mode
        .recovery_names()
        .map_err(|e| fail(GuardError::Name(e)))?;
    let planes = request.mode.planes();
    for plane in Plane::ALL {
        let problem = match (planes.contains(&plane), request.sources.get(plane)) {
            (true, None) => "has no source; give a backup name or a point in time",
            (false, Some(_)) => {
                "has a source but the mode does not restore it; remove it or use full mode"
            }
            _ => continue,
        };
        return Err(fail(GuardError::Sources { plane, problem }));
    }
    if let Some(value) = request.instances
        && !(1..=MAX_INSTANCES).contains(&value)
    {
        return Err(fail(GuardError::Instances {
            value,
            max: MAX_INSTANCES,
        }));
    }
    Ok(())
}

/// Parses an intent document (at most 64 KiB of UTF-8 without BOM) and runs the offline checks
/// on its request. `shown` names the document in errors.
///
/// # Errors
/// Invalid input with the line, column and field path of the problem, or when the request
/// fails a check that needs no cluster (names, sources, instances).
pub fn parse_intent_document(bytes: &[u8], shown: &str) -> Result<RestoreIntent, AppError> {
    let intent = parse_intent(bytes)
        .map_err(|e| AppError::invalid(&e).context(format!("intent `{shown}` is invalid")))?;
    check_offline(&intent.spec).map_err(|e| e.context(format!("intent `{shown}` is invalid")))?;
    Ok(intent)
}

/// Reads and parses an intent document from a file (`-` for stdin).
///
/// # Errors
/// As [`parse_intent_document`], or when the file cannot be read.
pub fn load_intent(file: &Path) -> Result<RestoreIntent, AppError> {
    // Read a little more than the limit so the core reports the size itself.
    let bytes = crate::settings::read_bytes(
        file,
        cnpg_backup_core::restore::intent::INTENT_MAX_BYTES as u64 + 1,
    )?;
    parse_intent_document(&bytes, &file.display().to_string())
}
