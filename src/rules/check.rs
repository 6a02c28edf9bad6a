//! The rules as predicates: "may this server exist / be created / change from A to B, given its
//! replication set?" Each answer is `Ok(())` or a typed [`Refusal`]. The validator, the planner,
//! the local provider, the test provider and the emulator all ask these functions; none of them
//! compares tiers, sizes, storage or replica counts by hand.
//!
//! The functions take a [`Shape`]: the facts of one server that the rules read, borrowed from
//! whatever the caller holds (a `ServerSpec`, an emulated server on the wire). Where a caller
//! wants every problem at once (the validator), the `*_problems` functions list them; the
//! `check_*` functions answer with the first, as a service does.

use super::refusal::{Key, Refusal, Rule};
use super::replicas::{ReplicaShortfall, SkuSize, replica_resize_shortfall};
use super::{FORBIDDEN_ADMIN_LOGINS, Tier};
use super::{
    GEO_BACKUP_TIERS, Generation, MAX_REPLICAS_PER_PRIMARY, PgVersion, RETENTION_DAYS, ReplicationSupport,
    StorageChange, TierChange, TierFeature, TlsVersion, VersionChange, admin_login_problem,
    server_name_problem, sku, storage_change, storage_limits, tier_change, tier_supports, valid_vcores,
    version_change,
};
use super::{
    HaMode, MaintenanceWindow, PREMIUM_SSD_SIZES_GB, PREMIUM_V2_IOPS, PREMIUM_V2_MIN_VERSION,
    PREMIUM_V2_SIZE_GB, PREMIUM_V2_THROUGHPUT, Service, StorageType, ZONES, flexible_sku,
};

/// The tag prefix pgfleet reserves for its own tags (staging and cutover markers on Azure).
pub(crate) const RESERVED_TAG_PREFIX: &str = "pgfleet-";

/// The facts of one server that the rules read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape<'a> {
    pub name: &'a str,
    pub tier: Tier,
    pub generation: Generation,
    pub vcores: u32,
    pub storage_gb: u32,
    pub version: PgVersion,
    pub backup_retention_days: u32,
    pub geo_redundant_backup: bool,
    pub storage_autogrow: bool,
    pub ssl_enforcement: bool,
    pub minimal_tls_version: TlsVersion,
    pub admin_login: &'a str,
    pub location: &'a str,
    /// The primary's name, on a replica.
    pub replica_of: Option<&'a str>,
    /// What only a Flexible Server has; `None` on a Single Server. On a flexible server `tier`
    /// and `vcores` are its SKU's.
    pub flexible: Option<FlexibleShape<'a>>,
}

/// The facts of a Flexible Server that only it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlexibleShape<'a> {
    pub sku: &'a str,
    pub storage_type: StorageType,
    pub iops: Option<u32>,
    pub throughput: Option<u32>,
    pub high_availability: HaMode,
    pub zone: Option<&'a str>,
    pub standby_zone: Option<&'a str>,
    pub maintenance_window: Option<MaintenanceWindow>,
}

impl Shape<'_> {
    /// Which service runs the server.
    pub fn service(&self) -> Service {
        if self.flexible.is_some() { Service::Flexible } else { Service::Single }
    }

    /// The size replica rules compare.
    pub fn size(&self) -> SkuSize {
        SkuSize {
            service: self.service(),
            tier: self.tier,
            generation: self.generation,
            vcores: self.vcores,
            storage_gb: self.storage_gb,
        }
    }

    /// `Standard_D4ds_v5`, or `GP_Gen5_8` (formed even when the catalog does not sell it).
    pub fn sku_name(&self) -> String {
        match self.flexible {
            Some(flexible) => flexible.sku.to_string(),
            None => self.size().sku_name(),
        }
    }

    pub fn is_replica(&self) -> bool {
        self.replica_of.is_some()
    }
}

/// A replica's primary as far as creating the replica goes.
#[derive(Debug, Clone, Copy)]
pub struct PrimaryFacts<'a> {
    pub shape: Shape<'a>,
    /// `azure.replication_support` in force on the primary; `None` when not known yet (the
    /// validator, which sees no live server).
    pub replication_support: Option<ReplicationSupport>,
    /// How many replicas the primary has besides the one asked about.
    pub other_replicas: usize,
}

/// Every problem of a server on its own, whether it exists or is new: name, admin login, SKU,
/// storage range, retention, geo-redundant backup, TLS.
pub(crate) fn server_problems(server: &Shape) -> Vec<Refusal> {
    let mut problems = Vec::new();
    if let Some(problem) = server_name_problem(server.name) {
        problems.push(Refusal::new(
            Rule::InvalidServerName,
            Key::Name,
            format!("server name {:?} {problem}", server.name),
            "server names are 3 to 63 lowercase letters, digits and hyphens, not starting or ending with a hyphen",
        ));
    }
    if let Some(problem) = admin_login_problem(server.admin_login) {
        problems.push(Refusal::new(
            Rule::InvalidAdminLogin,
            Key::AdminLogin,
            format!("admin login {problem}"),
            format!(
                "choose another login, for example \"fleetadmin\"; reserved: {}",
                FORBIDDEN_ADMIN_LOGINS.join(", ")
            ),
        ));
    }
    if let Some(flexible) = &server.flexible {
        problems.extend(flexible_problems(server, flexible));
        return problems;
    }
    problems.extend(sku_problem(server));
    problems.extend(storage_problem(server));
    problems.extend(version_not_run(server));
    problems.extend(retention_problem(server));
    if server.geo_redundant_backup && !tier_supports(server.tier, TierFeature::GeoRedundantBackup) {
        let tiers: Vec<&str> = GEO_BACKUP_TIERS.iter().map(|tier| tier.as_str()).collect();
        problems.push(Refusal::new(
            Rule::GeoBackupNotOffered,
            Key::GeoRedundantBackup,
            format!("geo-redundant backup is not available on {}", server.tier),
            format!("set geo_redundant_backup = false, or use one of: {}", tiers.join(", ")),
        ));
    }
    if !server.ssl_enforcement && server.minimal_tls_version != TlsVersion::EnforcementDisabled {
        problems.push(Refusal::new(
            Rule::TlsWithoutSsl,
            Key::MinimalTlsVersion,
            format!("minimal_tls_version is {} but ssl_enforcement is false", server.minimal_tls_version),
            format!(
                "without SSL, set minimal_tls_version = \"{}\" (or turn ssl_enforcement on)",
                TlsVersion::EnforcementDisabled
            ),
        ));
    }
    problems
}

/// Backup retention outside 7–35 days (the same range on both services).
fn retention_problem(server: &Shape) -> Option<Refusal> {
    (!RETENTION_DAYS.contains(&server.backup_retention_days)).then(|| {
        Refusal::new(
            Rule::RetentionOutOfRange,
            Key::BackupRetentionDays,
            format!("{} days is outside the retention range", server.backup_retention_days),
            format!("keep backups {} to {} days", RETENTION_DAYS.start(), RETENTION_DAYS.end()),
        )
    })
}

fn sku_problem(server: &Shape) -> Option<Refusal> {
    let (tier, generation) = (server.tier, server.generation);
    let offered = valid_vcores(tier, generation);
    if offered.is_empty() {
        let generations: Vec<&str> = [Generation::Gen4, Generation::Gen5]
            .into_iter()
            .filter(|g| !valid_vcores(tier, *g).is_empty())
            .map(Generation::as_str)
            .collect();
        return Some(Refusal::new(
            Rule::SkuNotOffered,
            Key::Generation,
            format!("{tier} is not offered on {generation}"),
            format!("{tier} servers use {}", generations.join(" or ")),
        ));
    }
    sku(tier, generation, server.vcores).is_none().then(|| {
        let list: Vec<String> = offered.iter().map(u32::to_string).collect();
        Refusal::new(
            Rule::SkuNotOffered,
            Key::Vcores,
            format!(
                "{} {} not offered on {tier} {generation}",
                server.vcores,
                if server.vcores == 1 { "vCore is" } else { "vCores is" }
            ),
            format!("{tier} {generation} offers {} vCores", list.join(", ")),
        )
    })
}

fn storage_problem(server: &Shape) -> Option<Refusal> {
    let limits = storage_limits(server.tier);
    let storage = server.storage_gb;
    let fits = (limits.min_gb..=limits.max_gb).contains(&storage) && storage % limits.step_gb == 0;
    (!fits).then(|| {
        Refusal::new(
            Rule::StorageOutOfRange,
            Key::StorageGb,
            format!("{storage} GB is outside {}'s storage range", server.tier),
            format!("{} storage is {} to {} GB, in whole GB", server.tier, limits.min_gb, limits.max_gb),
        )
    })
}

/// A version the server's service does not run at all (16 on Single Server, 10 on Flexible
/// Server).
fn version_not_run(server: &Shape) -> Option<Refusal> {
    let service = server.service();
    if server.version.services().contains(&service) {
        return None;
    }
    let versions: Vec<&str> = service.versions().into_iter().map(PgVersion::as_str).collect();
    let other = if service == Service::Single { Service::Flexible } else { Service::Single };
    Some(Refusal::new(
        Rule::RetiredVersion,
        Key::Version,
        format!("{} does not run PostgreSQL {}", service.title(), server.version),
        format!(
            "{} runs {}; for {} set service = \"{}\"",
            service.title(),
            versions.join(", "),
            server.version,
            other.as_str()
        ),
    ))
}

/// Every problem of a Flexible Server on its own: SKU, storage size and type, IOPS and
/// throughput, HA and zones, retention, maintenance window, version (DOMAIN-FLEXIBLE.md).
fn flexible_problems(server: &Shape, flexible: &FlexibleShape) -> Vec<Refusal> {
    let mut problems = Vec::new();
    let sku = flexible_sku(flexible.sku);
    if sku.is_none() {
        problems.push(Refusal::new(
            Rule::SkuNotOffered,
            Key::Sku,
            format!("{:?} is not a Flexible Server SKU pgfleet knows", flexible.sku),
            "name one of the Burstable (Standard_B…ms), General Purpose (Standard_D…s_v3, ds_v4, ds_v5, ads_v5) or \
             Memory Optimized (Standard_E…) sizes listed in docs/service-rules.md",
        ));
    }
    problems.extend(version_not_run(server));
    let storage = server.storage_gb;
    match flexible.storage_type {
        StorageType::Premium if !PREMIUM_SSD_SIZES_GB.contains(&storage) => {
            let next = PREMIUM_SSD_SIZES_GB.iter().find(|&&size| size >= storage);
            let sizes: Vec<String> = PREMIUM_SSD_SIZES_GB.iter().map(u32::to_string).collect();
            problems.push(Refusal::new(
                Rule::StorageOutOfRange,
                Key::StorageGb,
                format!("{storage} GiB is not a Premium SSD size"),
                match next {
                    Some(next) => {
                        format!("use storage_gb = {next}; Premium SSD sizes are {} GiB", sizes.join(", "))
                    }
                    None => format!("Premium SSD sizes are {} GiB", sizes.join(", ")),
                },
            ));
        }
        StorageType::PremiumV2 if !PREMIUM_V2_SIZE_GB.contains(&storage) => problems.push(Refusal::new(
            Rule::StorageOutOfRange,
            Key::StorageGb,
            format!("{storage} GiB is outside Premium SSD v2's range"),
            format!(
                "Premium SSD v2 is {} to {} GiB, in whole GiB",
                PREMIUM_V2_SIZE_GB.start(),
                PREMIUM_V2_SIZE_GB.end()
            ),
        )),
        _ => {}
    }
    if flexible.storage_type == StorageType::PremiumV2 {
        let mut why = Vec::new();
        if !tier_supports(server.tier, TierFeature::PremiumV2Storage) {
            why.push(format!("is not offered on {}", server.tier));
        }
        if server.version.major() < PREMIUM_V2_MIN_VERSION.parse().unwrap_or(14) {
            why.push(format!(
                "needs PostgreSQL {PREMIUM_V2_MIN_VERSION} or later (this server runs {})",
                server.version
            ));
        }
        if server.storage_autogrow {
            why.push("has no autogrow (set storage_autogrow = false)".to_string());
        }
        for reason in why {
            problems.push(Refusal::new(
                Rule::StorageTypeNotOffered,
                Key::StorageType,
                format!("Premium SSD v2 {reason}"),
                "use storage_type = \"Premium_LRS\", or meet Premium SSD v2's conditions: General Purpose or Memory \
                 Optimized, PostgreSQL 14 or later, storage_autogrow = false",
            ));
        }
    }
    for (key, value, range, unit) in [
        (Key::Iops, flexible.iops, PREMIUM_V2_IOPS, "IOPS"),
        (Key::Throughput, flexible.throughput, PREMIUM_V2_THROUGHPUT, "MB/s"),
    ] {
        let Some(value) = value else { continue };
        if flexible.storage_type != StorageType::PremiumV2 {
            problems.push(Refusal::new(
                Rule::InvalidStoragePerformance,
                key,
                format!(
                    "{key} is provisioned only on Premium SSD v2, and this server uses {}",
                    flexible.storage_type
                ),
                format!("remove {key}, or set storage_type = \"{}\"", StorageType::PremiumV2),
            ));
        } else if !range.contains(&value) {
            problems.push(Refusal::new(
                Rule::InvalidStoragePerformance,
                key,
                format!("{value} {unit} is outside Premium SSD v2's range"),
                format!("set {key} from {} to {}", range.start(), range.end()),
            ));
        }
    }
    if flexible.high_availability.is_enabled() && !tier_supports(server.tier, TierFeature::HighAvailability) {
        problems.push(Refusal::new(
            Rule::HaNotOffered,
            Key::HighAvailability,
            format!("high availability is not offered on {}", server.tier),
            "set high_availability = \"Disabled\", or choose a General Purpose or Memory Optimized sku",
        ));
    }
    for (key, zone) in [(Key::Zone, flexible.zone), (Key::StandbyZone, flexible.standby_zone)] {
        if let Some(zone) = zone.filter(|zone| !ZONES.contains(zone)) {
            problems.push(Refusal::new(
                Rule::InvalidZone,
                key,
                format!("{zone:?} is not an availability zone"),
                format!("zones are {}", ZONES.join(", ")),
            ));
        }
    }
    if let Some(standby) = flexible.standby_zone {
        if flexible.high_availability != HaMode::ZoneRedundant {
            problems.push(Refusal::new(
                Rule::InvalidZone,
                Key::StandbyZone,
                format!("standby_zone is set but high_availability is {}", flexible.high_availability),
                "a standby zone exists only with high_availability = \"ZoneRedundant\"; remove standby_zone or set it",
            ));
        } else if flexible.zone == Some(standby) {
            problems.push(Refusal::new(
                Rule::InvalidZone,
                Key::StandbyZone,
                format!("standby_zone is zone {standby}, the server's own zone"),
                "a zone-redundant standby runs in another zone than the server",
            ));
        }
    }
    problems.extend(retention_problem(server));
    if let Some(window) = flexible.maintenance_window.filter(|window| {
        !super::MAINTENANCE_HOURS.contains(&window.hour)
            || !super::MAINTENANCE_MINUTES.contains(&window.minute)
    }) {
        problems.push(Refusal::new(
            Rule::InvalidMaintenanceWindow,
            Key::MaintenanceWindow,
            format!("{:02}:{:02} is not a time of day", window.hour, window.minute),
            format!(
                "hour is {}–{} and minute {}–{}, in UTC",
                super::MAINTENANCE_HOURS.start(),
                super::MAINTENANCE_HOURS.end(),
                super::MAINTENANCE_MINUTES.start(),
                super::MAINTENANCE_MINUTES.end()
            ),
        ));
    }
    problems
}

/// A key set on a server of a service that does not have it: `vcores` or `ssl_enforcement` on
/// a flexible server, `sku` on a single one.
pub(crate) fn key_not_in_service(key: Key, service: Service) -> Option<Refusal> {
    if key.is_of(service) {
        return None;
    }
    let hint = match (key, service) {
        (Key::Tier | Key::Vcores | Key::Generation, Service::Flexible) => {
            "a Flexible Server's compute is its sku (for example sku = \"Standard_D4ds_v5\"); tier and vCores are \
             derived from it"
                .to_string()
        }
        (Key::SslEnforcement | Key::MinimalTlsVersion, Service::Flexible) => {
            "Flexible Server always offers TLS 1.2 or later; remove the key".to_string()
        }
        (Key::Sku, Service::Single) => {
            "a Single Server's compute is tier, generation and vcores; for a Flexible Server set service = \"flexible\""
                .to_string()
        }
        (_, Service::Single) => format!("{key} is a Flexible Server setting; set service = \"flexible\" to use it"),
        (_, Service::Flexible) => format!("{key} is a Single Server setting; remove it"),
    };
    Some(Refusal::new(
        Rule::KeyNotInService,
        key,
        format!("{key} is not a setting of {}", service.title()),
        hint,
    ))
}

/// A new server may not run a retired PostgreSQL version (existing servers on it keep running).
pub(crate) fn new_server_version_problem(server: &Shape) -> Option<Refusal> {
    let version = server.version;
    let service = server.service();
    if version.offered_for_new(service) || !version.services().contains(&service) {
        return None;
    }
    let supported: Vec<&str> =
        PgVersion::ALL.into_iter().filter(|v| v.offered_for_new(service)).map(|v| v.as_str()).collect();
    Some(Refusal::new(
        Rule::RetiredVersion,
        Key::Version,
        format!("PostgreSQL {version} is retired: the service creates no new server on it"),
        format!(
            "set version = \"{}\" (supported for new servers: {}); servers already running {version} keep \
             running and take in-place changes",
            supported.last().copied().unwrap_or_default(),
            supported.join(", ")
        ),
    ))
}

/// Tags whose names pgfleet reserves (`pgfleet-*`): it writes those itself on Azure.
pub(crate) fn tag_problems<'t>(tags: impl IntoIterator<Item = &'t str>) -> Vec<Refusal> {
    tags.into_iter()
        .filter(|tag| tag.to_ascii_lowercase().starts_with(RESERVED_TAG_PREFIX))
        .map(|tag| {
            Refusal::new(
                Rule::ReservedTag,
                Key::Tags,
                format!(
                    "the tag {tag:?} is reserved: pgfleet writes tags named {RESERVED_TAG_PREFIX}* itself"
                ),
                format!("rename the tag so that it does not start with {RESERVED_TAG_PREFIX:?}"),
            )
        })
        .collect()
}

/// Every problem of a replica against its primary: chains, tiers, replica count, replication
/// support, size (connections, vCores, storage) and the create-only properties it shares.
pub(crate) fn replica_problems(replica: &Shape, primary: &PrimaryFacts) -> Vec<Refusal> {
    let p = &primary.shape;
    let mut problems = Vec::new();
    if replica.service() != p.service() {
        problems.push(Refusal::new(
            Rule::ReplicaAcrossServices,
            Key::ReplicaOf,
            format!(
                "{} runs on {} and {} on {}; a replica runs on its primary's service",
                p.name,
                p.service().title(),
                replica.name,
                replica.service().title()
            ),
            format!("set service = \"{}\" on {}, as on {}", p.service(), replica.name, p.name),
        ));
        return problems;
    }
    if let Some(grand) = p.replica_of {
        problems.push(Refusal::new(
            Rule::ReplicaOfReplica,
            Key::ReplicaOf,
            format!("{} is itself a replica (of {grand}); replicas of replicas are not allowed", p.name),
            format!("make it a replica of {grand} instead"),
        ));
    }
    if !tier_supports(p.tier, TierFeature::ReadReplicas) {
        problems.push(Refusal::new(
            Rule::ReplicaOnBasic,
            Key::ReplicaOf,
            format!("{} is a {} server, and {} servers have no replicas", p.name, p.tier, p.tier),
            format!("move {} to GeneralPurpose or MemoryOptimized", p.name),
        ));
    }
    if !tier_supports(replica.tier, TierFeature::ReadReplicas) {
        problems.push(Refusal::new(
            Rule::ReplicaOnBasic,
            Key::Tier,
            format!("a replica cannot be on {}", replica.tier),
            "replicas are GeneralPurpose or MemoryOptimized",
        ));
    }
    if primary.other_replicas >= MAX_REPLICAS_PER_PRIMARY {
        problems.push(Refusal::new(
            Rule::TooManyReplicas,
            Key::ReplicaOf,
            format!(
                "{} already has {} replicas; a primary has at most {MAX_REPLICAS_PER_PRIMARY}",
                p.name, primary.other_replicas
            ),
            "remove a replica, or make this one a replica of another primary",
        ));
    }
    if primary.replication_support.is_some_and(|support| !support.allows_replicas()) {
        problems.push(Refusal::new(
            Rule::ReplicationSupportOff,
            Key::ReplicaOf,
            format!("{} does not have replication support on", p.name),
            format!("set {} to REPLICA on {} and restart it first", ReplicationSupport::PARAMETER, p.name),
        ));
    }
    problems.extend(size_problems(replica, p));
    if let (Some(flexible), Some(_)) = (&replica.flexible, &p.flexible) {
        if flexible.high_availability.is_enabled() {
            problems.push(Refusal::new(
                Rule::HaOnReplica,
                Key::HighAvailability,
                format!("replica {} cannot have high availability", replica.name),
                "set high_availability = \"Disabled\" on the replica; its primary can have HA",
            ));
        }
        if replica.geo_redundant_backup {
            problems.push(Refusal::new(
                Rule::GeoBackupOnReplica,
                Key::GeoRedundantBackup,
                format!(
                    "replica {} cannot have geo-redundant backup: replicas have no backups",
                    replica.name
                ),
                "set geo_redundant_backup = false on the replica",
            ));
        }
        if p.storage_autogrow && !replica.storage_autogrow {
            problems.push(Refusal::new(
                Rule::ReplicaAutogrowBehindPrimary,
                Key::StorageAutogrow,
                format!("{} has storage autogrow on, so its replica {} must too", p.name, replica.name),
                format!(
                    "set storage_autogrow = true on {}, or turn it off on {} as well",
                    replica.name, p.name
                ),
            ));
        }
    }
    for (key, replica_value, primary_value) in [
        (Key::Version, replica.version.as_str(), p.version.as_str()),
        (Key::AdminLogin, replica.admin_login, p.admin_login),
    ] {
        if replica_value != primary_value {
            problems.push(Refusal::new(
                Rule::ReplicaDiffersFromPrimary,
                key,
                format!(
                    "{key} is \"{replica_value}\" but its primary {} has \"{primary_value}\"; a replica takes \
                     {key} from its primary",
                    p.name
                ),
                format!("set {key} = \"{primary_value}\" on {}, as on {}", replica.name, p.name),
            ));
        }
    }
    problems
}

/// The dimensions a replica falls short of its primary in, each a refusal saying by how much.
pub(crate) fn size_problems(replica: &Shape, primary: &Shape) -> Vec<Refusal> {
    let (r, p) = (replica.size(), primary.size());
    let mut problems = Vec::new();
    for shortfall in super::replicas::replica_shortfalls(p, r) {
        problems.push(describe_shortfall(replica.name, primary.name, r, p, shortfall));
    }
    problems
}

fn describe_shortfall(
    replica: &str,
    primary: &str,
    r: SkuSize,
    p: SkuSize,
    shortfall: ReplicaShortfall,
) -> Refusal {
    match shortfall {
        ReplicaShortfall::MaxConnections { primary: wanted, replica: has } => {
            let fitting = valid_vcores(r.tier, r.generation)
                .into_iter()
                .map(|vcores| SkuSize { vcores, ..r })
                .find(|size| size.max_connections() >= wanted && size.vcores >= p.vcores);
            let hint = match fitting {
                Some(size) => format!(
                    "set vcores = {} or more on {replica} ({} allows {} connections), or keep {primary} smaller",
                    size.vcores,
                    size.sku_name(),
                    size.max_connections()
                ),
                None => format!(
                    "no {} {} size of {replica} has {wanted} connections; move {replica} to {primary}'s tier ({}) \
                     or keep {primary} smaller",
                    r.tier, r.generation, p.tier
                ),
            };
            Refusal::new(
                Rule::ReplicaSmallerThanPrimary,
                Key::Vcores,
                format!(
                    "replica {replica} falls short of its primary {primary} in connections: {} ({has} connections) \
                     against {primary}'s {} ({wanted}), {} short; a replica needs at least its primary's \
                     max_connections, which the SKU fixes",
                    r.sku_name(),
                    p.sku_name(),
                    wanted - has
                ),
                hint,
            )
        }
        ReplicaShortfall::Vcores { primary: wanted, replica: has } if r.service == Service::Flexible => {
            Refusal::new(
                Rule::ReplicaSmallerThanPrimary,
                Key::Sku,
                format!(
                    "replica {replica} falls short of its primary {primary} in compute: {has} vCores against \
                 {primary}'s {wanted}; a replica has at least its primary's compute"
                ),
                format!("choose a sku with {wanted} vCores or more for {replica}, or keep {primary} smaller"),
            )
        }
        ReplicaShortfall::Vcores { primary: wanted, replica: has } => Refusal::new(
            Rule::ReplicaSmallerThanPrimary,
            Key::Vcores,
            format!(
                "replica {replica} falls short of its primary {primary} in vcores: {has} vCores ({}) against \
                 {primary}'s {wanted} ({}), {} short; a replica has at least its primary's vCores",
                r.sku_name(),
                p.sku_name(),
                wanted - has
            ),
            match valid_vcores(r.tier, r.generation).into_iter().find(|&vcores| vcores >= wanted) {
                Some(vcores) => {
                    format!("set vcores = {vcores} or more on {replica}, or keep {primary} smaller")
                }
                None => format!("keep {primary} at {has} vCores or fewer"),
            },
        ),
        ReplicaShortfall::Storage { primary_gb, replica_gb } => Refusal::new(
            Rule::ReplicaSmallerThanPrimary,
            Key::StorageGb,
            format!(
                "replica {replica} falls short of its primary {primary} in storage: {replica_gb} GB against \
                 {primary}'s {primary_gb} GB, {} GB short; a replica needs at least its primary's storage",
                primary_gb - replica_gb
            ),
            format!("set storage_gb = {primary_gb} or more on {replica}"),
        ),
    }
}

/// May `server` be created? Its own rules, a supported version, and for a replica the rules
/// against its primary.
///
/// # Errors
/// The first rule the create breaks.
pub(crate) fn check_create(server: &Shape, primary: Option<&PrimaryFacts>) -> Result<(), Refusal> {
    first(
        server_problems(server)
            .into_iter()
            .chain(new_server_version_problem(server))
            .chain(primary.into_iter().flat_map(|primary| replica_problems(server, primary))),
    )
}

/// Every problem of an in-place change from `current` to `next` on the server itself: a tier
/// change to or from Basic, a storage decrease, a create-only property, a version downgrade,
/// auto-grow turned off on a replica, and `next`'s own rules.
pub(crate) fn update_problems(current: &Shape, next: &Shape) -> Vec<Refusal> {
    let mut problems = Vec::new();
    if current.service() != next.service() {
        return vec![create_only(Key::Service)];
    }
    if let (Some(now), Some(then)) = (&current.flexible, &next.flexible) {
        problems.extend(flexible_update_problems(now, then));
    }
    if tier_change(current.tier, next.tier) == TierChange::Migration {
        problems.push(Refusal::new(
            Rule::TierChangeNotInPlace,
            Key::Tier,
            format!("The edition '{}' is not a valid edition. Edition cannot be changed by update", next.tier),
            "a move to or from Basic is a migration: pgfleet plans it as one (dump, restore, verify, cutover)",
        ));
    }
    if storage_change(current.storage_gb, next.storage_gb) == StorageChange::ShrinkRefused {
        let rule = if next.flexible.is_some() { Rule::FlexibleStorageShrink } else { Rule::StorageShrink };
        problems.push(Refusal::new(
            rule,
            Key::StorageGb,
            format!(
                "Cannot update StorageMB Downscaling for server ({} GB to {} GB)",
                current.storage_gb, next.storage_gb
            ),
            format!("storage never shrinks: keep storage_gb at {} GB or more", current.storage_gb),
        ));
    }
    match version_change(current.service(), current.version, next.version) {
        VersionChange::Same => {}
        VersionChange::DowngradeRefused => problems.push(Refusal::new(
            Rule::VersionDowngrade,
            Key::Version,
            format!("PostgreSQL {} cannot be downgraded to {}", current.version, next.version),
            format!(
                "keep version = \"{}\": a dump of a newer server is not guaranteed to restore into an older one",
                current.version
            ),
        )),
        VersionChange::UpgradeByMigration => problems.push(create_only(Key::Version)),
        VersionChange::UpgradeInPlace => {}
    }
    for (key, changed) in [
        (Key::GeoRedundantBackup, current.geo_redundant_backup != next.geo_redundant_backup),
        (Key::Location, current.location != next.location),
        (Key::AdminLogin, current.admin_login != next.admin_login),
    ] {
        if changed {
            problems.push(create_only(key));
        }
    }
    if next.service() == Service::Single
        && next.is_replica()
        && current.storage_autogrow
        && !next.storage_autogrow
    {
        problems.push(Refusal::new(
            Rule::ReplicaAutogrowOff,
            Key::StorageAutogrow,
            "Cannot update StorageAutogrow on a replica: auto-grow is always on for replicas",
            "keep storage_autogrow = true on replicas",
        ));
    }
    problems
        .extend(server_problems(next).into_iter().filter(|problem| problem.rule != Rule::InvalidServerName));
    problems
}

/// A Flexible Server's own in-place limits: the storage type and zone are set at create (a
/// zone swap with the standby is a failover, not an update), and HA does not switch between
/// SameZone and ZoneRedundant in one update.
fn flexible_update_problems(current: &FlexibleShape, next: &FlexibleShape) -> Vec<Refusal> {
    let mut problems = Vec::new();
    if current.storage_type != next.storage_type {
        problems.push(create_only(Key::StorageType));
    }
    if current.zone != next.zone && next.zone.is_some() {
        problems.push(create_only(Key::Zone));
    }
    if current.high_availability.switch_needs_disable(next.high_availability) {
        problems.push(Refusal::new(
            Rule::HaModeSwitch,
            Key::HighAvailability,
            format!(
                "Cannot switch Properties.HighAvailability.Mode directly from {} to {}. Please disable HA and then \
                 enable HA.",
                current.high_availability, next.high_availability
            ),
            "pgfleet plans this as two updates: HA disabled, then enabled in the new mode",
        ));
    }
    problems
}

fn create_only(key: Key) -> Refusal {
    Refusal::new(
        Rule::CreateOnlyChange,
        key,
        format!("Cannot update {key} for server: it is set only when a server is created"),
        "pgfleet plans a change of it as a migration to a new server (dump, restore, verify, cutover)",
    )
}

/// May a server change in place from `current` to `next`?
///
/// # Errors
/// The first rule the change breaks.
pub(crate) fn check_update(current: &Shape, next: &Shape) -> Result<(), Refusal> {
    first(update_problems(current, next))
}

/// May a primary resize from `before` to `after` while its replicas stay as they are? Refused
/// only when a replica is left short and the pair worse (see `replica_resize_shortfall`).
///
/// # Errors
/// [`Rule::PrimaryLargerThanReplica`] for the first replica it would outgrow.
pub(crate) fn check_primary_resize<'a>(
    before: &Shape,
    after: &Shape,
    replicas: impl IntoIterator<Item = &'a Shape<'a>>,
) -> Result<(), Refusal> {
    for replica in replicas {
        let unchanged = (replica.size(), replica.size());
        if let Some(shortfall) = replica_resize_shortfall((before.size(), after.size()), unchanged) {
            return Err(Refusal::new(
                Rule::PrimaryLargerThanReplica,
                key_of(after.service(), shortfall),
                format!(
                    "The requested sku update would cause the master server to have a larger max_connections \
                     value than its replica(s): {} would outgrow its replica {} ({})",
                    after.name,
                    replica.name,
                    shortfall.describe()
                ),
                format!("grow {} first, then {}", replica.name, after.name),
            ));
        }
    }
    Ok(())
}

/// May a replica resize from `before` to `after` while its primary stays as it is?
///
/// # Errors
/// [`Rule::ReplicaSmallerThanPrimary`] when it would fall (further) short of its primary.
pub(crate) fn check_replica_resize(primary: &Shape, before: &Shape, after: &Shape) -> Result<(), Refusal> {
    let unchanged = (primary.size(), primary.size());
    match replica_resize_shortfall(unchanged, (before.size(), after.size())) {
        None => Ok(()),
        Some(shortfall) => Err(Refusal::new(
            Rule::ReplicaSmallerThanPrimary,
            key_of(after.service(), shortfall),
            format!(
                "The requested sku update would cause the replica server to have a smaller max_connections value \
                 than its master server: {} would fall short of {} ({})",
                after.name,
                primary.name,
                shortfall.describe()
            ),
            format!("shrink {} first, or keep {} at least as large", primary.name, after.name),
        )),
    }
}

fn key_of(service: Service, shortfall: ReplicaShortfall) -> Key {
    match shortfall {
        ReplicaShortfall::Vcores { .. } if service == Service::Flexible => Key::Sku,
        ReplicaShortfall::MaxConnections { .. } | ReplicaShortfall::Vcores { .. } => Key::Vcores,
        ReplicaShortfall::Storage { .. } => Key::StorageGb,
    }
}

/// May a server change in place from `before` to `after` within its replication set: the
/// change itself ([`check_update`]), its replicas' sizes ([`check_primary_resize`]) or its
/// primary's ([`check_replica_resize`]), and autogrow across the pair
/// ([`check_autogrow_pair`]). Every provider asks this before an update.
///
/// # Errors
/// The first rule the change breaks.
pub(crate) fn check_update_in_set(
    before: &Shape,
    after: &Shape,
    primary: Option<&Shape>,
    replicas: &[Shape],
) -> Result<(), Refusal> {
    check_update(before, after)?;
    if after.flexible.is_some() && after.version > before.version && !replicas.is_empty() {
        let names: Vec<&str> = replicas.iter().map(|replica| replica.name).collect();
        return Err(Refusal::new(
            Rule::UpgradeWithReplicas,
            Key::Version,
            format!(
                "{} cannot be upgraded to PostgreSQL {} while it has read replicas ({})",
                after.name,
                after.version,
                names.join(", ")
            ),
            "delete the replicas first and create them again after the upgrade (pgfleet plans this with \
             --allow-delete)",
        ));
    }
    check_primary_resize(before, after, replicas)?;
    for replica in replicas {
        check_autogrow_pair(after, replica)?;
    }
    if let Some(primary) = primary {
        check_replica_resize(primary, before, after)?;
        check_autogrow_pair(primary, after)?;
    }
    Ok(())
}

/// May a Flexible Server replication pair be as `primary` and `replica` say? A replica has
/// storage autogrow whenever its primary has it, so autogrow is enabled on the replicas first
/// and disabled on the primary first.
///
/// # Errors
/// [`Rule::ReplicaAutogrowBehindPrimary`].
pub(crate) fn check_autogrow_pair(primary: &Shape, replica: &Shape) -> Result<(), Refusal> {
    if primary.flexible.is_none() || !primary.storage_autogrow || replica.storage_autogrow {
        return Ok(());
    }
    Err(Refusal::new(
        Rule::ReplicaAutogrowBehindPrimary,
        Key::StorageAutogrow,
        format!(
            "{} would have storage autogrow on while its replica {} has it off",
            primary.name, replica.name
        ),
        format!("enable autogrow on {} first (or disable it on {} first)", replica.name, primary.name),
    ))
}

/// May `server` fail over to its standby? Only a Flexible Server with high availability has one.
///
/// # Errors
/// [`Rule::FailoverWithoutHa`].
pub(crate) fn check_failover(server: &Shape) -> Result<(), Refusal> {
    if server.flexible.is_some_and(|flexible| flexible.high_availability.is_enabled()) {
        return Ok(());
    }
    Err(Refusal::new(
        Rule::FailoverWithoutHa,
        Key::HighAvailability,
        format!(
            "Failing over can only be triggered for zone redundant or same zone servers: {} has no standby",
            server.name
        ),
        "set high_availability = \"SameZone\" or \"ZoneRedundant\" on a General Purpose or Memory Optimized \
         flexible server first",
    ))
}

/// May the admin password of `server` change? Not on a replica (it is replicated from the
/// primary), and not in the same request as a promote.
///
/// # Errors
/// [`Rule::PasswordChangeOnReplica`].
pub(crate) fn check_password_change(server: &Shape, with_promote: bool) -> Result<(), Refusal> {
    if server.is_replica() || with_promote {
        let message = if with_promote {
            "a password change cannot be combined with a promote; promote first"
        } else {
            "the administrator password of a replica cannot be changed: it is replicated from its primary"
        };
        return Err(Refusal::new(
            Rule::PasswordChangeOnReplica,
            Key::AdminPassword,
            message,
            "change the password on the primary (or after the promote)",
        ));
    }
    Ok(())
}

/// The replication support a new server starts with: `REPLICA`, the service's default on most
/// servers, where the tier has replicas (a replica too: promoted, it is a primary like any
/// other); `OFF` on Basic. Every backend starts
/// new servers with it; the planner still sets it explicitly before a first replica (on some
/// servers the service starts with `OFF`).
pub(crate) fn initial_replication_support(server: &Shape) -> ReplicationSupport {
    // A Flexible Server has no such parameter: it always writes WAL its HA standby and
    // replicas can stream.
    if server.flexible.is_some() {
        return ReplicationSupport::Replica;
    }
    if check_replication_support(server, ReplicationSupport::Replica, 0).is_ok() {
        ReplicationSupport::Replica
    } else {
        ReplicationSupport::Off
    }
}

/// May `server` be promoted to a standalone server?
///
/// # Errors
/// [`Rule::NotAReplica`] when it replicates nothing.
pub(crate) fn check_promote(server: &Shape) -> Result<(), Refusal> {
    if server.is_replica() {
        return Ok(());
    }
    Err(Refusal::new(
        Rule::NotAReplica,
        Key::ReplicaOf,
        format!("server '{}' is not a replica", server.name),
        "only a replica can be promoted",
    ))
}

/// May `server`, which has `replicas` replicas, have `azure.replication_support` set to
/// `support`? Not to a value allowing replicas on a tier without them, and not to one that
/// stops them while it has replicas.
///
/// # Errors
/// [`Rule::ReplicaOnBasic`] or [`Rule::ReplicationSupportOff`].
pub(crate) fn check_replication_support(
    server: &Shape,
    support: ReplicationSupport,
    replicas: usize,
) -> Result<(), Refusal> {
    if support.allows_replicas() && !tier_supports(server.tier, TierFeature::ReadReplicas) {
        return Err(Refusal::new(
            Rule::ReplicaOnBasic,
            Key::ReplicationSupport,
            format!(
                "{} is a {} server, and {} servers have no replicas",
                server.name, server.tier, server.tier
            ),
            format!("leave {} OFF on {}", ReplicationSupport::PARAMETER, server.name),
        ));
    }
    if !support.allows_replicas() && replicas > 0 {
        return Err(Refusal::new(
            Rule::ReplicationSupportOff,
            Key::ReplicationSupport,
            format!(
                "{} has {replicas} {}; replication support cannot be turned off under them",
                server.name,
                if replicas == 1 { "replica" } else { "replicas" }
            ),
            "delete or promote its replicas first",
        ));
    }
    Ok(())
}

fn first(problems: impl IntoIterator<Item = Refusal>) -> Result<(), Refusal> {
    match problems.into_iter().next() {
        Some(refusal) => Err(refusal),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(name: &'static str, tier: Tier, vcores: u32, storage_gb: u32) -> Shape<'static> {
        Shape {
            name,
            tier,
            generation: Generation::Gen5,
            vcores,
            storage_gb,
            version: PgVersion::V11,
            backup_retention_days: 7,
            geo_redundant_backup: false,
            storage_autogrow: true,
            ssl_enforcement: true,
            minimal_tls_version: TlsVersion::Tls1_2,
            admin_login: "fleetadmin",
            location: "westeurope",
            replica_of: None,
            flexible: None,
        }
    }

    fn rules_of(problems: Vec<Refusal>) -> Vec<Rule> {
        problems.into_iter().map(|problem| problem.rule).collect()
    }

    #[test]
    fn a_valid_server_has_no_problem() {
        assert!(server_problems(&shape("pay-main", Tier::GeneralPurpose, 4, 100)).is_empty());
        check_create(&shape("pay-main", Tier::GeneralPurpose, 4, 100), None).unwrap();
    }

    #[test]
    fn a_server_on_its_own() {
        let mut bad = shape("Pay", Tier::Basic, 4, 2000);
        bad.backup_retention_days = 40;
        bad.geo_redundant_backup = true;
        bad.ssl_enforcement = false;
        bad.admin_login = "admin";
        assert_eq!(
            rules_of(server_problems(&bad)),
            [
                Rule::InvalidServerName,
                Rule::InvalidAdminLogin,
                Rule::SkuNotOffered,
                Rule::StorageOutOfRange,
                Rule::RetentionOutOfRange,
                Rule::GeoBackupNotOffered,
                Rule::TlsWithoutSsl
            ]
        );
        let mut gen4 = shape("mo-gen4", Tier::MemoryOptimized, 4, 100);
        gen4.generation = Generation::Gen4;
        let problem = &server_problems(&gen4)[0];
        assert_eq!((problem.rule, problem.key), (Rule::SkuNotOffered, Key::Generation));
        // One vCore is one vCore.
        let one = shape("gp-one", Tier::GeneralPurpose, 1, 100);
        assert_eq!(server_problems(&one)[0].message, "1 vCore is not offered on GeneralPurpose Gen5");
    }

    #[test]
    fn retired_versions_are_refused_for_new_servers_only() {
        let mut old = shape("old-one", Tier::GeneralPurpose, 2, 100);
        old.version = PgVersion::V9_6;
        assert_eq!(check_create(&old, None).unwrap_err().rule, Rule::RetiredVersion);
        let grown = Shape { storage_gb: 200, ..old };
        check_update(&old, &grown).unwrap();
    }

    #[test]
    fn reserved_tags() {
        assert_eq!(rules_of(tag_problems(["team", "pgfleet-name", "PGFLEET-x"])), [Rule::ReservedTag; 2]);
    }

    #[test]
    fn in_place_changes() {
        let gp = shape("a-server", Tier::GeneralPurpose, 4, 100);
        let basic = shape("a-server", Tier::Basic, 2, 100);
        assert_eq!(check_update(&gp, &basic).unwrap_err().rule, Rule::TierChangeNotInPlace);
        assert_eq!(check_update(&gp, &Shape { storage_gb: 50, ..gp }).unwrap_err().rule, Rule::StorageShrink);
        let v10 = Shape { version: PgVersion::V10, ..gp };
        assert_eq!(check_update(&gp, &v10).unwrap_err().rule, Rule::VersionDowngrade);
        assert_eq!(check_update(&v10, &gp).unwrap_err().rule, Rule::CreateOnlyChange);
        let geo = Shape { geo_redundant_backup: true, ..gp };
        assert_eq!(check_update(&gp, &geo).unwrap_err().key, Key::GeoRedundantBackup);
        let replica = Shape { replica_of: Some("p"), ..gp };
        let off = Shape { storage_autogrow: false, ..replica };
        assert_eq!(check_update(&replica, &off).unwrap_err().rule, Rule::ReplicaAutogrowOff);
        check_update(&gp, &Shape { vcores: 8, storage_gb: 200, ..gp }).unwrap();
        check_update(&gp, &Shape { tier: Tier::MemoryOptimized, ..gp }).unwrap();
    }

    #[test]
    fn replicas_against_their_primary() {
        let primary = shape("p-server", Tier::GeneralPurpose, 4, 100);
        let facts = |shape, support, others| PrimaryFacts {
            shape,
            replication_support: support,
            other_replicas: others,
        };
        let replica =
            Shape { replica_of: Some("p-server"), ..shape("r-server", Tier::GeneralPurpose, 4, 100) };
        check_create(&replica, Some(&facts(primary, Some(ReplicationSupport::Replica), 4))).unwrap();
        let refused =
            |replica: &Shape, primary: PrimaryFacts| check_create(replica, Some(&primary)).unwrap_err().rule;
        assert_eq!(
            refused(&replica, facts(primary, Some(ReplicationSupport::Replica), 5)),
            Rule::TooManyReplicas
        );
        assert_eq!(
            refused(&replica, facts(primary, Some(ReplicationSupport::Off), 0)),
            Rule::ReplicationSupportOff
        );
        let chained = Shape { replica_of: Some("root"), ..primary };
        assert_eq!(refused(&replica, facts(chained, None, 0)), Rule::ReplicaOfReplica);
        let basic = shape("p-server", Tier::Basic, 2, 100);
        let small = Shape { vcores: 2, ..replica };
        assert_eq!(refused(&small, facts(basic, None, 0)), Rule::ReplicaOnBasic);
        assert_eq!(refused(&small, facts(primary, None, 0)), Rule::ReplicaSmallerThanPrimary);
        // MO_Gen5_2 has more connections (300) than GP_Gen5_4 (250) but fewer vCores: DESIGN.md
        // holds replicas to their primary's vCores too.
        let mo2 = Shape { tier: Tier::MemoryOptimized, vcores: 2, ..replica };
        let refusal = check_create(&mo2, Some(&facts(primary, None, 0))).unwrap_err();
        assert_eq!((refusal.rule, refusal.key), (Rule::ReplicaSmallerThanPrimary, Key::Vcores));
        let other_login = Shape { admin_login: "other", ..replica };
        assert_eq!(refused(&other_login, facts(primary, None, 0)), Rule::ReplicaDiffersFromPrimary);
    }

    #[test]
    fn resizes_in_a_replication_set() {
        let primary = shape("p-server", Tier::GeneralPurpose, 4, 100);
        let replica =
            Shape { replica_of: Some("p-server"), ..shape("r-server", Tier::GeneralPurpose, 4, 100) };
        let bigger = Shape { vcores: 8, ..primary };
        let refusal = check_primary_resize(&primary, &bigger, [&replica]).unwrap_err();
        assert_eq!(refusal.rule, Rule::PrimaryLargerThanReplica);
        let smaller = Shape { vcores: 2, ..replica };
        assert_eq!(
            check_replica_resize(&primary, &replica, &smaller).unwrap_err().rule,
            Rule::ReplicaSmallerThanPrimary
        );
        check_replica_resize(&primary, &replica, &Shape { vcores: 8, ..replica }).unwrap();
        check_primary_resize(&primary, &Shape { vcores: 2, ..primary }, [&replica]).unwrap();
    }

    #[test]
    fn passwords_and_promotes() {
        let primary = shape("p-server", Tier::GeneralPurpose, 4, 100);
        let replica = Shape { replica_of: Some("p-server"), ..primary };
        check_password_change(&primary, false).unwrap();
        assert_eq!(check_password_change(&replica, false).unwrap_err().rule, Rule::PasswordChangeOnReplica);
        assert_eq!(check_password_change(&replica, true).unwrap_err().rule, Rule::PasswordChangeOnReplica);
        check_promote(&replica).unwrap();
        assert_eq!(check_promote(&primary).unwrap_err().rule, Rule::NotAReplica);
    }

    #[test]
    fn replication_support() {
        let primary = shape("p-server", Tier::GeneralPurpose, 4, 100);
        let basic = shape("b-server", Tier::Basic, 2, 100);
        check_replication_support(&primary, ReplicationSupport::Replica, 0).unwrap();
        check_replication_support(&primary, ReplicationSupport::Off, 0).unwrap();
        check_replication_support(&basic, ReplicationSupport::Off, 0).unwrap();
        let refused = |server, support, replicas| {
            check_replication_support(server, support, replicas).unwrap_err().rule
        };
        assert_eq!(refused(&basic, ReplicationSupport::Replica, 0), Rule::ReplicaOnBasic);
        assert_eq!(refused(&primary, ReplicationSupport::Off, 1), Rule::ReplicationSupportOff);
    }

    #[test]
    fn every_rule_has_a_row_in_the_docs() {
        let docs = include_str!("../../docs/service-rules.md");
        for rule in Rule::ALL {
            let row = format!("{} | `{}` |", rule.name(), rule.code_str());
            assert!(docs.contains(&row), "docs/service-rules.md has no row for {rule:?}: {row}");
        }
    }

    #[test]
    fn every_rule_has_one_code_and_the_service_codes_are_documented_ones() {
        for rule in Rule::ALL {
            let (code, origin) = rule.code();
            assert!(!code.is_empty());
            if origin == super::super::refusal::CodeOrigin::Service {
                assert!(
                    [
                        "InvalidUpgradeEdition",
                        "UnsupportedUpdate",
                        "InvalidParameterValue",
                        "UpsertServerManagementOperationDowngradeDiskSizeUnsupported",
                    ]
                    .contains(&code),
                    "{rule:?}"
                );
            }
        }
    }
}
