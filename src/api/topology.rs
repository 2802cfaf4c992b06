//! `Topology`: one SfB deployment, how to reach it, and how the operator may act on it.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use crate::model::{
    ActionKind, BackupModule, BackupSql, BlockReason, ChatState, DatabaseType, Ledger, MirrorRole,
    Mode,
};

/// The deployment's driver and the operator's policy for it.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "sfbdr.io",
    version = "v1alpha1",
    kind = "Topology",
    doc = "One Skype for Business Server deployment: how sfb-dr reaches it and how it may act on it.",
    namespaced,
    cel,
    status = "TopologyStatus",
    shortname = "topo",
    category = "sfbdr",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(name = "Plan", type_ = "string", json_path = ".status.plan.id"),
    printcolumn(name = "Steps", type_ = "string", json_path = ".status.progress"),
    printcolumn(
        name = "Approval",
        type_ = "string",
        json_path = ".spec.approval",
        priority = 1
    ),
    printcolumn(
        name = "Paused",
        type_ = "boolean",
        json_path = ".spec.paused",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct TopologySpec {
    /// How the operator observes and acts on the deployment.
    pub driver: DriverSpec,
    /// Seconds between observations. Default 30.
    #[serde(default = "default_observe_interval")]
    #[x_kube(validation = Rule::new("self >= 5 && self <= 3600").message("must be between 5 and 3600 seconds"))]
    pub observe_interval_seconds: u32,
    /// `Automatic` runs plans as they come; `Manual` waits for the `sfbdr.io/approve-plan` annotation.
    #[serde(default)]
    pub approval: Approval,
    /// Stops all execution while true.
    #[serde(default)]
    pub paused: bool,
    /// How many ready steps may run at once. Default 4.
    #[serde(default = "default_max_parallel_steps")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 64").message("must be between 1 and 64"))]
    pub max_parallel_steps: u32,
    /// Allows disaster-mode moves: the failover of a pool that is down, which gives up the changes
    /// not yet replicated to its backup pool, and the failback from a backup pool that is down,
    /// which loses what users changed there. Without it such moves are blocked
    /// (`DataLossNotAllowed`) until a person allows them.
    #[serde(default)]
    pub allow_data_loss: bool,
    /// Recovery objectives that conditions are measured against.
    #[serde(default)]
    pub objectives: Objectives,
    /// How many times a step may fail before its pair is left `Stalled` for a person. Default 3.
    #[serde(default = "default_max_attempts")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 10").message("must be between 1 and 10"))]
    pub max_attempts: u32,
    /// The Edge pools that may carry the organization's federation routes, each list in order
    /// of preference: a route belongs on the first listed Edge pool that is up in an active
    /// site. A route not declared here is never moved.
    #[serde(default, skip_serializing_if = "FederationRoutes::is_empty")]
    pub federation_routes: FederationRoutes,
    /// Persistent Chat pools (Skype for Business Server 2015) whose failover is part of a site
    /// failover: when the site of the primary database goes out of service, the pool fails over
    /// to its backup database and the servers of the backup site (a person's SQL steps, then
    /// `Set-CsPersistentChatState` and `Set-CsPersistentChatActiveServer`), and back when it
    /// returns. A pool not listed is never touched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 8))]
    #[x_kube(validation = Rule::new("self.all(a, self.exists_one(b, b.pool == a.pool))")
        .message("each Persistent Chat pool is listed once"))]
    pub persistent_chat: Vec<PersistentChatPool>,
}

/// One Persistent Chat pool: where its primary database and its log-shipped backup database
/// are, each with the pool's servers in that site.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.primary.site.lowerAscii() != self.backup.site.lowerAscii()")
    .message("the primary and the backup database must be in different sites"))]
#[x_kube(validation = Rule::new("!self.primary.servers.exists(s, s in self.backup.servers)")
    .message("a server stands in one site: it cannot be both a primary and a backup server"))]
pub struct PersistentChatPool {
    /// The pool's FQDN.
    #[x_kube(validation = super::fqdn_rule())]
    #[schemars(length(max = 253))]
    pub pool: String,
    /// The site of the primary `mgc` database and the servers there.
    pub primary: PersistentChatSite,
    /// The site of the backup (log-shipped) `mgc` database and the servers there.
    pub backup: PersistentChatSite,
}

/// One site of a Persistent Chat pool.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PersistentChatSite {
    /// The site's name (as the Site resources and the topology name it).
    #[x_kube(validation = super::non_empty_rule())]
    #[schemars(length(max = 253))]
    pub site: String,
    /// The pool's servers in this site, by FQDN: the active servers while the pool uses this
    /// site's database.
    #[schemars(length(min = 1, max = 16), inner(length(max = 253)))]
    #[x_kube(validation = super::fqdn_list_rule())]
    #[x_kube(validation = Rule::new("self.all(a, self.exists_one(b, b == a))")
        .message("each server is listed once"))]
    pub servers: Vec<String>,
}

/// The Edge pools, in order of preference, for SIP and for XMPP federation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(!has(self.sip) || self.sip.all(a, self.sip.exists_one(b, b == a))) && (!has(self.xmpp) || self.xmpp.all(a, self.xmpp.exists_one(b, b == a)))")
    .message("each list names an Edge pool once"))]
pub struct FederationRoutes {
    /// Edge pools for SIP federation (port 5061), moved in Topology Builder: each move is a
    /// step a person confirms.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(max = 253)))]
    #[x_kube(validation = super::fqdn_list_rule())]
    pub sip: Vec<String>,
    /// Edge pools for XMPP federation (port 5269), moved with `Set-CsSite
    /// -XmppFederationRoute` between two steps a person confirms (the Edge services, DNS).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(max = 253)))]
    #[x_kube(validation = super::fqdn_list_rule())]
    pub xmpp: Vec<String>,
}

impl FederationRoutes {
    /// Whether no route is declared.
    pub fn is_empty(&self) -> bool {
        self.sip.is_empty() && self.xmpp.is_empty()
    }
}

fn default_max_attempts() -> u32 {
    3
}

fn default_observe_interval() -> u32 {
    30
}

fn default_max_parallel_steps() -> u32 {
    4
}

/// Whether plans run as soon as they are made.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum Approval {
    #[default]
    Automatic,
    Manual,
}

/// Exactly one driver.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.simulator) != has(self.powershell)")
    .message("set exactly one driver: simulator or powershell"))]
pub struct DriverSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulator: Option<SimulatorDriver>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub powershell: Option<PowerShellDriver>,
}

/// A simulated deployment reached over HTTP (`sfb-dr simulator`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SimulatorDriver {
    /// Base URL of the simulator, such as http://127.0.0.1:7070.
    #[x_kube(validation = Rule::new("self.startsWith('http://') || self.startsWith('https://')")
        .message("must be an http:// or https:// URL"))]
    #[schemars(length(max = 2048))]
    pub url: String,
}

/// A real deployment, managed with SfB cmdlets on a Windows server reached over OpenSSH.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PowerShellDriver {
    /// The Windows management server.
    #[x_kube(validation = super::fqdn_rule())]
    #[schemars(length(max = 253))]
    pub host: String,
    /// SSH port. Default 22.
    #[serde(default = "default_ssh_port")]
    #[x_kube(validation = Rule::new("self >= 1 && self <= 65535").message("must be a TCP port"))]
    pub port: u32,
    /// The account to log in as, such as `CONTOSO\svc-sfbdr` or `svc-sfbdr@contoso.com`: up to
    /// 104 letters, digits, `.`, `_`, `-`, `\` or `@`, not starting with `-` (never an ssh option).
    #[x_kube(validation = user_rule())]
    #[schemars(length(max = 104))]
    pub user: String,
    /// A Secret with `ssh-privatekey` and `known_hosts`; host keys are always checked against it.
    pub credentials_secret_ref: SecretRef,
    /// How long each kind of step may run before it is stopped.
    #[serde(default)]
    pub timeouts: ActionTimeouts,
}

fn default_ssh_port() -> u32 {
    22
}

/// Per-action time limits, in minutes. Microsoft targets 15-20 minutes for a pool failover and
/// up to about 60 for the failback of 20,000 users, 5 for a CMS failover; the defaults leave room.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActionTimeouts {
    /// `Invoke-CsPoolFailOver`. Default 60.
    #[serde(default = "default_pool_minutes")]
    #[x_kube(validation = minutes_rule())]
    pub pool_failover_minutes: u32,
    /// `Invoke-CsPoolFailBack`. Default 60.
    #[serde(default = "default_pool_minutes")]
    #[x_kube(validation = minutes_rule())]
    pub pool_failback_minutes: u32,
    /// `Invoke-CsManagementServerFailover`. Default 15.
    #[serde(default = "default_cms_minutes")]
    #[x_kube(validation = minutes_rule())]
    pub cms_failover_minutes: u32,
    /// Observing, Edge next hops and Backup Service syncs. Default 5.
    #[serde(default = "default_other_minutes")]
    #[x_kube(validation = minutes_rule())]
    pub other_minutes: u32,
}

impl Default for ActionTimeouts {
    fn default() -> Self {
        ActionTimeouts {
            pool_failover_minutes: default_pool_minutes(),
            pool_failback_minutes: default_pool_minutes(),
            cms_failover_minutes: default_cms_minutes(),
            other_minutes: default_other_minutes(),
        }
    }
}

fn default_pool_minutes() -> u32 {
    60
}

fn default_cms_minutes() -> u32 {
    15
}

fn default_other_minutes() -> u32 {
    5
}

fn minutes_rule() -> kube::core::Rule {
    kube::core::Rule::new("self >= 1 && self <= 1440").message("must be between 1 and 1440 minutes")
}

/// The CEL rule for `driver.powershell.user`, as strict as the driver's own check
/// (`driver::powershell::transport::check_user`).
fn user_rule() -> kube::core::Rule {
    kube::core::Rule::new(r"self.size() <= 104 && self.matches('^[A-Za-z0-9._@\\\\][-A-Za-z0-9._@\\\\]*$')")
        .message("must be an account name of up to 104 letters, digits, '.', '_', '-', '\\' or '@', not starting with '-'")
}

/// A Secret in the Topology's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct SecretRef {
    /// The Secret's name: lowercase letters, digits, `-` and `.`, each dot-separated part
    /// starting and ending with a letter or digit, at most 253 characters.
    #[x_kube(validation = secret_name_rule())]
    #[schemars(length(max = 253))]
    pub name: String,
}

/// The CEL rule for a Secret's name, as strict as the driver's own check
/// (`driver::powershell::credentials::check_secret_name`) and Kubernetes' (DNS-1123 subdomain).
fn secret_name_rule() -> kube::core::Rule {
    kube::core::Rule::new(
        "self.size() <= 253 && self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",
    )
    .message("must be a Secret name: lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit, at most 253 characters")
}

/// Recovery point and time objectives (Microsoft documents 5 and 20 minutes).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Objectives {
    #[serde(default = "default_rpo")]
    #[x_kube(validation = Rule::new("self >= 1").message("must be at least 1 second"))]
    pub rpo_seconds: u32,
    #[serde(default = "default_rto")]
    #[x_kube(validation = Rule::new("self >= 1").message("must be at least 1 second"))]
    pub rto_seconds: u32,
}

impl Default for Objectives {
    fn default() -> Self {
        Objectives {
            rpo_seconds: default_rpo(),
            rto_seconds: default_rto(),
        }
    }
}

fn default_rpo() -> u32 {
    300
}

fn default_rto() -> u32 {
    1200
}

/// What the operator knows and is doing about the deployment.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopologyStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
    /// When the observation this status describes was made (RFC 3339). Status is rewritten only
    /// when what it says changes, so at rest this is the time of the last change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_at: Option<String>,
    /// Steps of the current plan done, out of all its steps, such as `3/7`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// The plan being executed or awaiting approval: the write-ahead journal of its steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanStatus>,
    /// Finished plans, newest last, at most ten.
    #[serde(default)]
    pub history: Vec<PlanRecord>,
    /// The operator's record of who serves each pool's users and what it still owes.
    #[serde(default)]
    pub ledger: Ledger,
    /// The ConfigMap in this namespace holding the last observation of the deployment (key
    /// `observed.json`), for `sfb-dr plan --kubeconfig`; refreshed when no step is running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observation: Option<String>,
}

/// A plan and the state of each step: the write-ahead journal.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanStatus {
    /// The plan id, which `sfbdr.io/approve-plan` names to approve it (or, when
    /// `approvalLeftOver` is set, this publication's `keyPrefix`).
    pub id: String,
    /// When the operator made this plan the current one (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at: Option<String>,
    #[serde(default)]
    pub steps: Vec<StepStatus>,
    /// Pairs left where they are, and why, as of the latest observation.
    #[serde(default)]
    pub blocked: Vec<BlockedStatus>,
    /// The value of `sfbdr.io/retry` that last gave this plan's failed steps another round
    /// (`<plan id>`, then `<plan id>-2`, `-3`, ...: each new value gives one more).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retried_with: Option<String>,
    /// What this publication's operation keys start with: the plan id, the Topology's uid and
    /// when the plan was published, so that a plan published again (the same site failing over
    /// a second time) never meets the records its first run left with the driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
    /// Set when `sfbdr.io/approve-plan` already named this plan's id as it was published: that
    /// approval was given to an earlier publication of the same plan and does not approve this
    /// one; only `sfbdr.io/approve-plan=<keyPrefix>` does.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approval_left_over: bool,
}

/// One journalled step: the plan step and where its execution is.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepStatus {
    pub id: String,
    /// `RepointEdge`, `FailOverCms`, `FailOverPool`, `FailBackPool`, `SyncBackup`,
    /// `FailOverDatabase`, `SetXmppFederationRoute`, `SetPersistentChatState`,
    /// `SetPersistentChatActiveServers`, or a person's step: `MoveSipFederationRoute`,
    /// `StopEdgeServices`, `StartEdgeServices`, `PublishXmppFederationRoute`,
    /// `RecoverPersistentChatDatabase`, `RestorePersistentChatDatabase`.
    pub action: ActionKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<BackupModule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// A disaster-mode CMS failover's backup SQL Server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_sql: Option<BackupSql>,
    /// A database failover's new principal, `Primary` or `Mirror`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_principal: Option<MirrorRole>,
    /// A database failover's databases, in order (`User`, `CentralMgmt`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<DatabaseType>,
    /// The Edge pool a federation route leaves, when it is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The site `Set-CsSite` names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The state `Set-CsPersistentChatState` puts a Persistent Chat pool in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_state: Option<ChatState>,
    /// The active servers `Set-CsPersistentChatActiveServer` sets (none clears them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub servers: Option<Vec<String>>,
    /// For a person's step that is ready: the value `sfbdr.io/confirm-steps` must list to
    /// confirm it (`kubectl sfbdr confirm` writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirm_with: Option<String>,
    #[serde(default)]
    pub depends_on: Vec<String>,
    pub state: StepState,
    /// Which attempt runs (or ran last); the operation key ends in `-<attempt>` from 2 on.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: u32,
    /// Failed attempts that count against `maxAttempts`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failures: u32,
    /// For a disaster-mode move: the replication lag, in seconds, behind the data it gave up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_loss_window_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A blocked pair in the published plan.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
pub struct BlockedStatus {
    pub pair: String,
    pub reason: BlockReason,
    pub message: String,
}

/// Where a journalled step is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum StepState {
    /// Not started; waits for its dependencies, approval or a retry.
    Pending,
    /// Recorded before the driver was called; settled by the same operation key after a crash.
    Running,
    /// A person's step (`action` names it, `message` says what to do): waits until the
    /// annotation `sfbdr.io/confirm-steps` names its confirmation key.
    AwaitingConfirmation,
    Succeeded,
    Failed,
}

/// How a finished plan ended.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum PlanOutcome {
    /// Every step succeeded.
    Succeeded,
    /// A step failed for good, or the plan was replaced after one failed.
    Failed,
    /// The declared or observed state changed, so a new plan replaced it.
    Superseded,
}

/// A finished plan and how long it took.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanRecord {
    pub id: String,
    pub outcome: PlanOutcome,
    /// When its first step started (RFC 3339), or when it was published if none did.
    pub started_at: String,
    pub finished_at: String,
    pub duration_seconds: u64,
    pub steps: u32,
    pub steps_succeeded: u32,
    /// Disaster-mode steps that ran, each giving up the changes not yet replicated.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub disaster_mode_steps: u32,
    /// The longest replication lag behind a disaster-mode move of this plan: the window of
    /// changes it accepted to lose. Absent when every move was graceful.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_loss_window_seconds: Option<u64>,
}
