//! The command line: every command, flag and help text (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit::EXIT_CODES_HELP;
use crate::output::Output;

/// CloudNativePG backup automation and staged, safe restores.
///
/// Configures scheduled backups of the admin and tenant CloudNativePG clusters, checks the
/// bucket, lists what can be restored (from the cluster or straight from the bucket) and runs
/// restores in two acknowledged stages: temporary recovery clusters first, the live clusters only
/// after they are ready. `cnpg-backup demo` runs the whole workflow without a cluster.
#[derive(Debug, Parser)]
#[command(name = "cnpg-backup", version, after_help = EXIT_CODES_HELP, max_term_width = 100)]
pub struct Cli {
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "FILE"
    )]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context to use (default: the current context).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "NAME"
    )]
    pub context: Option<String>,

    /// Namespace of the CloudNativePG clusters and of cnpg-backup's state (default: the
    /// context's namespace).
    #[arg(
        short = 'n',
        long,
        global = true,
        help_heading = "Global options",
        value_name = "NAME",
        value_parser = parse_namespace
    )]
    pub namespace: Option<String>,

    /// Run on the embedded default kept in DIR (a simulated CNPG and a local-directory bucket)
    /// instead of a Kubernetes cluster.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "DIR",
        env = "CNPG_BACKUP_EMBEDDED"
    )]
    pub embedded: Option<PathBuf>,

    /// Settings file (YAML): target, automation, plane clusters, app version source.
    #[arg(
        short = 'c',
        long = "config",
        global = true,
        help_heading = "Global options",
        value_name = "FILE",
        env = "CNPG_BACKUP_CONFIG"
    )]
    pub config: Option<PathBuf>,

    /// Output format: tables for people, JSON or YAML (camelCase, stable) for scripts.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table, global = true, help_heading = "Global options")]
    pub output: Output,

    /// More logs on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = "Global options")]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(
        short,
        long,
        global = true,
        help_heading = "Global options",
        conflicts_with = "verbose"
    )]
    pub quiet: bool,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Every command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole workflow on the embedded default (a simulated CNPG and a local-directory
    /// bucket): settings, preflight, reconcile, backups, catalog, a staged restore, audit trail.
    Demo(DemoArgs),

    /// Create, check or show the settings file.
    #[command(subcommand)]
    Config(ConfigCommand),

    /// Render the CloudNativePG objects the settings produce, as YAML, without a cluster
    /// (for GitOps).
    Plan,

    /// Apply the settings to the cluster: backup configuration and ScheduledBackups (with
    /// `useForBackups: false`, take our backup configuration off, so WAL archiving stops).
    /// Prints a `warning:` line per warning of the plan.
    Reconcile,

    /// Show reconcile and preflight status: badges, last reconcile time, error text, the last
    /// plan's warnings, steps.
    Status,

    /// Check the bucket step by step (never touches a database). Exits 1 when a step fails.
    Preflight(PreflightArgs),

    /// Take backups.
    #[command(subcommand)]
    Backup(BackupCommand),

    /// Work with schedules.
    #[command(subcommand)]
    Schedule(ScheduleCommand),

    /// Work with retention policies.
    #[command(subcommand)]
    Retention(RetentionCommand),

    /// List backups, newest first, with named-restore readiness.
    Catalog(CatalogArgs),

    /// Staged restores: plan, create recovery clusters (stage one), watch them, apply (stage
    /// two), abandon, clean up.
    #[command(subcommand)]
    Restore(RestoreCommand),

    /// Restore intent documents (JSON, for automation and hand-offs).
    #[command(subcommand)]
    Intent(IntentCommand),

    /// Print the minimal Kubernetes Role cnpg-backup needs (with `--serve`, also what `serve`
    /// needs to check its callers; with `--users`, the roles people are given on the API).
    Rbac(RbacArgs),

    /// Serve the HTTP API (under /api/v1) over the cluster, or over the embedded default with
    /// `--embedded DIR`. Stops gracefully on SIGTERM or SIGINT.
    Serve(ServeArgs),

    /// Print what runs `cnpg-backup serve` in the namespace (`-n`): ServiceAccount, Role (the
    /// `rbac` rules plus the control loop's watches, Lease and Events), RoleBinding, a
    /// Deployment of 2 replicas electing a leader, and a Service.
    Manifests(ManifestsArgs),
}

/// `rbac` options.
#[derive(Debug, Args)]
pub struct RbacArgs {
    /// Also print the ClusterRole and ClusterRoleBinding that let `serve`'s service account
    /// create TokenReviews and SubjectAccessReviews.
    #[arg(long, conflicts_with = "users")]
    pub serve: bool,
    /// The service account `serve` runs as (with --serve).
    #[arg(
        long,
        value_name = "NAME",
        default_value = "cnpg-backup",
        requires = "serve"
    )]
    pub service_account: String,
    /// Print instead the ClusterRoles people are given on the API (group `cnpg-backup.io`):
    /// viewer, operator, restorer.
    #[arg(long)]
    pub users: bool,
}

/// `serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default: 127.0.0.1:8080 with --embedded, else 0.0.0.0:8080).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
    /// Embedded default: read the API token from this file (at least 16 characters) instead of
    /// generating one and printing it.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Embedded default: one simulated minute passes every SECONDS, so backups complete and
    /// recovery clusters get ready while you watch (0 stops simulated time).
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0)]
    pub sim_tick: f64,
    /// A browser origin (e.g. https://console.example.com) allowed to call the API from a page
    /// served elsewhere (CORS, cross-origin protection). Repeatable; none by default.
    #[arg(long, value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
    /// Seconds in-flight steps get to finish at shutdown.
    #[arg(long, value_name = "SECONDS", default_value_t = 20)]
    pub shutdown_grace: u64,
    /// Leader election and loop timing (in a cluster).
    #[command(flatten)]
    pub timing: LoopArgs,
}

/// A duration flag: `30s`, `10m`, `1h` or plain seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}`: expected a number of seconds, or a number and s, m or h"))?;
    let secs = match unit {
        "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        _ => return Err(format!("`{s}`: the unit must be s, m or h, e.g. `30s`")),
    };
    if secs == 0 {
        return Err(format!("`{s}` must be longer than zero"));
    }
    Ok(std::time::Duration::from_secs(secs))
}

/// A Lease name: a Kubernetes object name (DNS-1123 subdomain), refused before anything
/// connects rather than by the API server at each election round.
fn parse_lease_name(s: &str) -> Result<String, String> {
    s.parse::<cnpg_backup_core::names::ObjectName>()
        .map(|n| n.to_string())
        .map_err(|e| format!("lease name: {e}"))
}

/// Leader election and loop timing, shared by `serve` and `manifests`.
#[derive(Debug, Clone, Args)]
pub struct LoopArgs {
    /// The Lease the replicas elect a leader on.
    #[arg(long, value_name = "NAME", default_value = "cnpg-backup-leader", value_parser = parse_lease_name)]
    pub lease_name: String,
    /// How long a replica waits, after it last saw the lease change, before taking it over.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub lease_duration: std::time::Duration,
    /// How long after the start of its last successful renewal the leader keeps writing
    /// (shorter than the lease duration: it stops before another replica may take over).
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = parse_duration)]
    pub lease_renew_deadline: std::time::Duration,
    /// How often the leader renews and the others look.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub lease_retry_period: std::time::Duration,
    /// The periodic resync: a reconcile and a look at every restore, whatever the watches saw.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub resync: std::time::Duration,
}

/// `manifests` options.
#[derive(Debug, Args)]
pub struct ManifestsArgs {
    /// The container image of cnpg-backup.
    #[arg(long, value_name = "IMAGE", default_value = concat!("cnpg-backup:", env!("CARGO_PKG_VERSION")))]
    pub image: String,
    /// Replicas of serve (one leads; the others take over).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(i32).range(1..=10))]
    pub replicas: i32,
    /// Leader election and loop timing (printed as the Deployment's flags).
    #[command(flatten)]
    pub timing: LoopArgs,
}

/// `demo` options.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory for the demo's bucket (default: a temporary directory, removed at the end).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Write a commented settings file to start from (to `-c FILE`, or stdout).
    Init {
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Check a settings file (`-c FILE`, or the FILE given here; `-` reads stdin).
    Validate {
        /// The file (default: `-c FILE`).
        file: Option<PathBuf>,
    },
    /// Show the settings and what they derive: cron, Barman retention, destination path,
    /// archive server names.
    Show,
}

/// `preflight` options.
#[derive(Debug, Args)]
pub struct PreflightArgs {
    /// Skip the write probe (nothing is written to the bucket).
    #[arg(long)]
    pub read_only: bool,
    /// An archive server name a restore would write to: check its WAL archive is empty (the
    /// check CNPG runs at bootstrap). Repeatable.
    #[arg(long, value_name = "SERVER")]
    pub restore_server: Vec<String>,
}

/// `backup` subcommands.
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Take an on-demand backup of every plane in scope now, under one backup-set id.
    Now,
}

/// `schedule` subcommands.
#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Show the six-field cron a schedule compiles to and its next fire times (UTC).
    Preview(PreviewArgs),
}

/// A preset a user can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PresetName {
    /// Every hour at --minute.
    Hourly,
    /// Every --every hours at --minute, from 00:--minute UTC.
    EveryNHours,
    /// Every day at --hour:--minute UTC.
    Daily,
    /// Every week on --weekday at --hour:--minute UTC.
    Weekly,
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[allow(missing_docs)]
pub enum WeekdayArg {
    Sun,
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
}

/// `schedule preview` options.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("kind").required(true).args(["preset", "cron"])))]
pub struct PreviewArgs {
    /// A preset.
    #[arg(long, value_enum)]
    pub preset: Option<PresetName>,
    /// Hours between runs (every-n-hours, 1 to 23).
    #[arg(long, requires = "preset")]
    pub every: Option<u8>,
    /// Hour, UTC (daily, weekly; default 0).
    #[arg(long, requires = "preset")]
    pub hour: Option<u8>,
    /// Minute (default 0).
    #[arg(long, requires = "preset")]
    pub minute: Option<u8>,
    /// Day of the week (weekly).
    #[arg(long, value_enum, requires = "preset")]
    pub weekday: Option<WeekdayArg>,
    /// A raw CNPG cron expression: six fields, seconds first, e.g. `0 30 2 * * *`.
    #[arg(long, value_name = "EXPR", conflicts_with = "preset")]
    pub cron: Option<String>,
    /// Start from this time (RFC 3339; default now).
    #[arg(long, value_name = "RFC3339")]
    pub from: Option<String>,
    /// How many fire times to show.
    #[arg(long, value_name = "K", default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub count: u16,
}

/// `retention` subcommands.
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Check a retention value (`30d`, `4w`, `3m`) and show Barman's form of it.
    Check {
        /// The value.
        value: String,
    },
}

/// Which planes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlaneArg {
    /// The admin plane.
    Admin,
    /// The tenant plane.
    Tenant,
    /// Both planes.
    Both,
}

/// Where the catalog comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceArg {
    /// The cluster's Backup objects, with storage presence checked in the bucket.
    Cluster,
    /// The bucket alone (no Kubernetes; credentials from the provider's environment variables).
    Bucket,
}

/// `catalog` options.
#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// Which planes (with --source bucket and no --plane: every server under the path).
    #[arg(long, value_enum)]
    pub plane: Option<PlaneArg>,
    /// Where to read from.
    #[arg(long, value_enum, default_value_t = SourceArg::Cluster)]
    pub source: SourceArg,
    /// With --source bucket: read every backup.info again, and neither read nor write the
    /// catalog cache ($XDG_CACHE_HOME/cnpg-backup/catalog, else ~/.cache/cnpg-backup/catalog)
    /// nor the catalog index in the bucket.
    #[arg(long)]
    pub no_cache: bool,
}

/// `restore` subcommands.
#[derive(Debug, Subcommand)]
pub enum RestoreCommand {
    /// Show everything a restore would create or delete, and the guards' verdicts. Changes
    /// nothing.
    Plan(RestoreRequestArgs),
    /// Stage one: create the temporary recovery clusters. Needs the stage-one acknowledgement.
    Create(RestoreCreateArgs),
    /// Show a restore's phase and each recovery cluster's progress.
    Status(RestoreStatusArgs),
    /// Stage two: replace the live clusters from the ready recovery clusters. Needs the
    /// stage-two acknowledgement.
    Apply(RestoreApplyArgs),
    /// Stop a restore before stage two: remove its recovery clusters, leave live untouched.
    Abandon(RestoreIdArg),
    /// Remove the recovery clusters of a completed restore.
    Cleanup(RestoreIdArg),
    /// Continue a restore that failed with a retryable error (after fixing the cause).
    Retry(RestoreIdArg),
    /// List the restores, newest first.
    List,
}

/// A restore id argument.
#[derive(Debug, Args)]
pub struct RestoreIdArg {
    /// The restore id.
    pub id: String,
}

/// The restore request, from flags or from an intent document.
#[derive(Debug, Args)]
pub struct RestoreRequestArgs {
    /// Read the request from this restore intent document (`-` for stdin) instead of flags.
    #[arg(long, value_name = "FILE")]
    pub intent: Option<PathBuf>,
    /// Restore id (default: the intent's, else `r-<UTC time>`).
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// Which planes: one plane into a temporary cluster, or both (full mode).
    #[arg(long, value_enum, default_value_t = PlaneArg::Both, conflicts_with = "intent")]
    pub plane: PlaneArg,
    /// Recovery cluster name (one plane) or base name (both: `<NAME>-admin`, `<NAME>-tenant`).
    #[arg(long, value_name = "NAME", required_unless_present = "intent")]
    pub name: Option<String>,
    /// Backup to restore (one plane): a Backup object name from `catalog`.
    #[arg(long, value_name = "BACKUP", conflicts_with_all = ["intent", "admin_backup", "tenant_backup"])]
    pub backup: Option<String>,
    /// Admin plane's backup (both planes).
    #[arg(long, value_name = "BACKUP", conflicts_with = "intent")]
    pub admin_backup: Option<String>,
    /// Tenant plane's backup (both planes).
    #[arg(long, value_name = "BACKUP", conflicts_with = "intent")]
    pub tenant_backup: Option<String>,
    /// Restore to this point in time (RFC 3339 with offset) instead of a named backup; with
    /// --backup/--admin-backup/--tenant-backup, start from those backups.
    #[arg(long, value_name = "RFC3339", conflicts_with = "intent")]
    pub point_in_time: Option<String>,
    /// Instances of each recovery cluster (default: as the live cluster).
    #[arg(long, conflicts_with = "intent")]
    pub instances: Option<u32>,
    /// How far the backup's app version may be from the running one.
    #[arg(long, value_enum, default_value_t = VersionPolicyArg::SameMajor, conflicts_with = "intent")]
    pub version_policy: VersionPolicyArg,
    /// Accept backups of different sets in full mode (recorded in the audit trail).
    #[arg(long, conflicts_with = "intent")]
    pub accept_set_mismatch: bool,
    /// Accept an unknown app version of the backup or the running app (recorded).
    #[arg(long, conflicts_with = "intent")]
    pub accept_unknown_version: bool,
    /// Keep the recovery clusters after the restore completes (remove later with `cleanup`).
    #[arg(long, conflicts_with = "intent")]
    pub keep_recovery_clusters: bool,
}

/// The version policy of a restore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VersionPolicyArg {
    /// The same version only.
    Exact,
    /// Older patch versions of the same minor.
    #[value(name = "same_minor", alias = "same-minor")]
    SameMinor,
    /// Older versions of the same major.
    #[value(name = "same_major", alias = "same-major")]
    SameMajor,
    /// Any older version.
    #[value(name = "any_older", alias = "any-older")]
    AnyOlder,
}

/// `restore create` options.
#[derive(Debug, Args)]
pub struct RestoreCreateArgs {
    /// The request.
    #[command(flatten)]
    pub request: RestoreRequestArgs,
    /// The stage-one acknowledgement, exactly (on a terminal you are asked for it instead).
    #[arg(long, value_name = "TEXT")]
    pub ack: Option<String>,
}

/// `restore status` options.
#[derive(Debug, Args)]
pub struct RestoreStatusArgs {
    /// The restore id.
    pub id: String,
    /// Refresh until the recovery clusters are ready for promotion checks (or the restore fails).
    #[arg(long)]
    pub watch: bool,
    /// Seconds between refreshes with --watch.
    #[arg(long, value_name = "SECONDS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600), requires = "watch")]
    pub interval: u64,
}

/// `restore apply` options.
#[derive(Debug, Args)]
pub struct RestoreApplyArgs {
    /// The restore id.
    pub id: String,
    /// The stage-two acknowledgement, exactly (on a terminal you are asked for it instead).
    #[arg(long, value_name = "TEXT")]
    pub ack: Option<String>,
}

/// `intent` subcommands.
#[derive(Debug, Subcommand)]
pub enum IntentCommand {
    /// Check a restore intent document (`-` reads stdin): shape, fields and names. Touches no
    /// cluster.
    Validate {
        /// The document.
        file: PathBuf,
    },
    /// Print the JSON Schema of restore intent documents.
    Schema,
}

/// The longest Kubernetes namespace name.
const NAMESPACE_MAX: usize = 63;

/// A Kubernetes namespace: a DNS-1123 label (lowercase letters, digits and `-`, starting and
/// ending with a letter or digit, at most 63 characters). Checked here so that a bad `-n`
/// is a usage error (exit 2) and never reaches the API server or a rendered object.
fn parse_namespace(s: &str) -> Result<String, String> {
    let expected = "use lowercase letters, digits and `-`, starting and ending with a letter or \
                    digit (DNS-1123 label)";
    if s.is_empty() {
        return Err(format!("namespace is empty; {expected}"));
    }
    if s.len() > NAMESPACE_MAX {
        return Err(format!(
            "namespace `{s}` is longer than {NAMESPACE_MAX} characters"
        ));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "namespace `{s}`: character `{c}` is not allowed; {expected}"
        ));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err(format!("namespace `{s}`: {expected}"));
    }
    Ok(s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_must_be_a_dns1123_label() {
        assert_eq!(parse_namespace("cnpg-system"), Ok("cnpg-system".to_owned()));
        assert_eq!(parse_namespace("a1"), Ok("a1".to_owned()));
        for bad in ["", "Bad_NS", "-x", "x-", "a.b", &"a".repeat(64)] {
            let err = parse_namespace(bad).expect_err(bad);
            assert!(err.contains("namespace"), "{err}");
        }
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
