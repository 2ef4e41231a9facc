//! Names for the core's own types in the HTTP API's OpenAPI document (feature `openapi`).
//!
//! The core's documents (`BackupSettings`, `RestoreRequest`, `RestoreIntent`...) carry their
//! JSON Schema through `schemars`, generated from the same serde attributes that read them; the
//! core does not depend on utoipa. Each marker here stands for one of them in the derived
//! schemas of the views: it renders as a `$ref` to `#/components/schemas/<Name>`, and the HTTP
//! crate fills those components from `schemars` when it builds the document.

use std::borrow::Cow;

use utoipa::openapi::{Ref, RefOr, schema::Schema};

macro_rules! core_schema {
    ($(#[$doc:meta] $marker:ident => $name:literal,)*) => {$(
        #[$doc]
        #[derive(Debug, Clone, Copy)]
        pub struct $marker;

        impl utoipa::PartialSchema for $marker {
            fn schema() -> RefOr<Schema> {
                RefOr::Ref(Ref::from_schema_name($name))
            }
        }

        impl utoipa::ToSchema for $marker {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    )*

    /// The names the markers stand for: the components the HTTP crate fills from `schemars`.
    pub const CORE_SCHEMAS: &[&str] = &[$($name),*];
    };
}

core_schema! {
    /// `cnpg_backup_core::automation::BackupSettings`.
    BackupSettingsSchema => "BackupSettings",
    /// `cnpg_backup_core::automation::BackupMethod`.
    BackupMethodSchema => "BackupMethod",
    /// `cnpg_backup_core::schedule::SchedulePreset`.
    SchedulePresetSchema => "SchedulePreset",
    /// `cnpg_backup_core::catalog::StoragePresence`.
    StoragePresenceSchema => "StoragePresence",
    /// `cnpg_backup_core::restore::RestoreRequest`.
    RestoreRequestSchema => "RestoreRequest",
    /// `cnpg_backup_core::restore::RestoreIntent`.
    RestoreIntentSchema => "RestoreIntent",
}
