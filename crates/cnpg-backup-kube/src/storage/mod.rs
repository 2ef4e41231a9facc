//! Object-storage adapter (object_store): preflight, storage presence, bucket catalog.
//!
//! - [`ObjectStoreBucketProbe`] implements the core's `BucketProbe`: an ordered preflight of a
//!   target, the presence of backups (one paginated LIST of `<server>/base/`), and the bucket
//!   catalog (one recursive LIST of each server's `base/`, then every `backup.info` and
//!   provenance record read with bounded concurrency; with a document from a
//!   [`CatalogCacheStore`] or the catalog index, only what the listing shows changed). It also
//!   writes the catalog index object ([`ObjectStoreBucketProbe::write_catalog_index`]) and the
//!   provenance records (`BucketProbe::write_provenance`, create-only).
//! - [`InMemoryCatalogCache`] and [`DiskCatalogCache`] keep catalog cache documents: in memory
//!   for a long-running process, as files in the user's cache directory for the CLI.
//! - [`ObjectStoreBucketObjects`] implements `BucketObjects` over any store, including a local
//!   directory (the simulator and the CLI demo write Barman files through it).
//! - [`build_store`] turns a core target plus [`ResolvedCredentials`] into a client: S3 and
//!   S3-compatible, GCS, Azure, local directory.
//!
//! Credentials come from Kubernetes secrets through a [`SecretReader`] the kube side provides,
//! or from the environment ([`ResolvedCredentials::from_env`]) for the disaster case. Secret
//! values live only in memory for the call; `Debug` redacts them and every error detail that
//! leaves this module is passed through [`ResolvedCredentials::redact`].
//!
//! Not here: deciding anything (the core does), creating buckets (never), writing anything
//! beside Barman's files other than the preflight probe object under [`PREFLIGHT_DIR`], the
//! catalog index objects under `.cnpg-backup/catalog-index/`, and our provenance record
//! `cnpg-backup.json` in a backup folder that holds `backup.info` (never over an existing one).

mod cache;
mod counter;
mod credentials;
mod objects;
mod probe;
mod store;
mod tls;

pub use cache::{CacheStoreError, CatalogCacheStore, DiskCatalogCache, InMemoryCatalogCache};
pub use counter::{RequestCounter, RequestCounts};
pub use credentials::{
    CredentialError, CredentialSource, FixedCredentials, ResolvedCredentials, SecretCredentials,
    SecretReader, resolve_credentials,
};
pub use objects::ObjectStoreBucketObjects;
pub use probe::{ObjectStoreBucketProbe, PREFLIGHT_DIR, ProbeOptions};
pub use store::{StoreError, StoreOptions, build_store, validate_target};
