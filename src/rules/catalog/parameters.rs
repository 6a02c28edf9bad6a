//! The server-parameter catalog of both services, as data: each parameter's name, ARM data type,
//! default, allowed values, unit, whether a change needs a restart and whether users may set it;
//! with the checks a value must pass (type, range, enumeration, units) and a did-you-mean for a
//! misspelt name. The emulator answers `…/configurations` from it and the validator checks
//! `[servers.NAME.parameters]` against it; neither keeps its own list. No I/O, no state.
//!
//! Only the commonly tuned parameters are listed (Azure reports about 400 on Flexible Server).
//! Where a default depends on the compute or the disk, the table holds the value of a 2-vCore
//! General Purpose server (8 GiB) with a 128 GiB disk, and [`default_value`] computes it for a
//! given SKU from Microsoft's formulas.
//!
//! Sources, Flexible Server (the values Azure reports for PostgreSQL 17):
//! - A recorded `Configurations_ListByServer` answer of a PostgreSQL 17 server (April 2026):
//!   `dataType`, `defaultValue`, `allowedValues`, `unit` (spelt as ARM spells it, which is not
//!   uniform: `KB`/`kB`, `8KB`/`8kB`, `ms`/`milliseconds`), `isDynamicConfig`, `isReadOnly`.
//!   <https://github.com/Azure/azure-cli/blob/03cf1ed1e437f34eb9db0214bf4a05e097e68f15/src/azure-cli/azure/cli/command_modules/postgresql/tests/latest/recordings/test_postgres_flexible_server_parameter_mgmt.yaml>
//! - Microsoft's server-parameter reference (types, defaults, allowed values, static / dynamic /
//!   read-only): <https://learn.microsoft.com/azure/postgresql/server-parameters/concepts-server-parameters>
//!   and its tables, <https://github.com/MicrosoftDocs/azure-databases-docs/tree/main/articles/postgresql/server-parameters/includes>
//!   (`param-16-*.md`).
//! - The defaults that follow the compute or disk (formulas and tables), in the same folder:
//!   `server-parameters-azure-notes-{max-connections,shared-buffers,effective-cache-size,`
//!   `maintenance-work-mem,wal-buffers,max-wal-size}.md`.
//! - The parameters a replica must keep at least as high as its primary:
//!   <https://learn.microsoft.com/azure/postgresql/read-replica/concepts-read-replicas>.
//!
//! Sources, Single Server:
//! - The modifiable parameters with defaults, types and allowed values (API 2017-12-01, which
//!   has no unit or restart flag):
//!   <https://github.com/Azure/azure-rest-api-specs/blob/ea5cdc8b5aa84aaebc762facc46d3dad36325294/specification/postgresql/resource-manager/Microsoft.DBforPostgreSQL/stable/2017-12-01/examples/ConfigurationListByServer.json>
//! - <https://learn.microsoft.com/azure/postgresql/single-server/concepts-servers> (parameters
//!   that need a restart or superuser are generally not configurable);
//!   `…/how-to-configure-server-parameters-using-cli` (the list shows the modifiable ones);
//!   `…/concepts-logical` (`azure.replication_support`: OFF, REPLICA, LOGICAL; REPLICA is the
//!   default on most servers; a change needs a restart); `…/concepts-server-logs`
//!   (`log_checkpoints` and `log_connections` are on by default; `logging_collector` needs a
//!   restart); `…/concepts-audit` and `…/concepts-extensions` (`shared_preload_libraries` for
//!   pgAudit, pg_prewarm and TimescaleDB, restart; `pg_stat_statements.track` defaults to
//!   `top`); `…/concepts-query-store` (`pg_qs.*`, `pgms_wait_sampling.*`); `…/concepts-limits`
//!   (connections fixed by the SKU).
//! - PostgreSQL's documentation for what that API leaves out, each setting's unit and whether
//!   it needs a restart (context `postmaster`): <https://www.postgresql.org/docs/current/runtime-config.html>,
//!   <https://www.postgresql.org/docs/current/view-pg-settings.html>.

use super::super::{ReplicationSupport, Service, Tier};
use super::SkuInfo;
use super::flexible::{FlexibleSku, flexible_sku};
use ParameterType::{Boolean as Bool, Enumeration as Enum, Integer as Int, Real, Set, String as Text};

/// A parameter's data type; [`ParameterType::arm_name`] is ARM's `dataType` spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParameterType {
    /// `on`/`off` (PgBouncer's `true`/`false`): the allowed spellings are in `allowed`.
    Boolean,
    /// A whole number, in the parameter's unit.
    Integer,
    /// ARM's `Numeric`: a floating-point number.
    Real,
    /// One value of the comma-separated `allowed` list.
    Enumeration,
    /// Free text; `allowed` holds ARM's pattern, which pgfleet does not check (no regex engine).
    String,
    /// A comma-separated list of values from `allowed` (ARM's `Set`: `shared_preload_libraries`,
    /// `azure.extensions`). Not in the brief's list, but the API reports it and a list is
    /// checked differently from one enumeration value.
    Set,
}

impl ParameterType {
    /// The type as ARM's `dataType` spells it.
    pub fn arm_name(self) -> &'static str {
        match self {
            ParameterType::Boolean => "Boolean",
            ParameterType::Integer => "Integer",
            ParameterType::Real => "Numeric",
            ParameterType::Enumeration => "Enumeration",
            ParameterType::String => "String",
            ParameterType::Set => "Set",
        }
    }
}

/// One server parameter as the service describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParameterSpec {
    /// The name as ARM spells it (`work_mem`, `DateStyle`); lookups ignore case.
    pub name: &'static str,
    pub data_type: ParameterType,
    /// ARM's `defaultValue`; for a default that follows the SKU see [`default_value`].
    pub default: &'static str,
    /// ARM's `allowedValues`: ranges (`25-5000`, `-1-2147483647`, `0-1.79769e+308`), a comma
    /// list of values (an empty entry allows the empty value), or a pattern for strings.
    pub allowed: &'static str,
    /// ARM's `unit` (`kB`, `8kB`, `ms`…); for Single Server, whose API has none, PostgreSQL's.
    pub unit: Option<&'static str>,
    /// A change takes effect only after a restart (ARM `isDynamicConfig: false`).
    pub is_static: bool,
    /// Users cannot set it (ARM `isReadOnly`; on Single Server, not in the modifiable list).
    pub read_only: bool,
    /// What it does, briefly.
    pub description: &'static str,
}

/// The parameters a read replica must keep at least as high as its primary's (equal for a
/// switchover): the standby's shared memory is sized by them.
pub const REPLICA_FLOOR_PARAMETERS: &[&str] = &[
    "max_connections",
    "max_prepared_transactions",
    "max_locks_per_transaction",
    "max_wal_senders",
    "max_worker_processes",
];

/// Every parameter of `service` the catalog knows, grouped by topic.
pub fn parameters(service: Service) -> &'static [ParameterSpec] {
    match service {
        Service::Single => SINGLE,
        Service::Flexible => FLEXIBLE,
    }
}

/// The parameter called `name` (any case: `datestyle` finds `DateStyle`).
pub fn parameter(service: Service, name: &str) -> Option<&'static ParameterSpec> {
    parameters(service).iter().find(|spec| spec.name.eq_ignore_ascii_case(name))
}

/// The default a server of SKU `sku` reports for `name`: `None` for an unknown parameter. The
/// defaults that follow the compute are computed from it (Flexible Server: `max_connections`
/// from the SKU catalog, `shared_buffers`, `effective_cache_size`, `maintenance_work_mem` and
/// `wal_buffers` from Microsoft's formulas; Single Server: `max_connections`, and
/// `azure.replication_support` OFF on Basic, which has no replicas). Flexible Server computes
/// them when a server is created and keeps them when its SKU changes. Without a known SKU, and
/// for every other parameter, the table's default.
pub fn default_value(service: Service, name: &str, sku: Option<&str>) -> Option<String> {
    let spec = parameter(service, name)?;
    let sized = sku.and_then(|sku| match service {
        Service::Flexible => flexible_sku(sku).and_then(|sku| flexible_sized_default(spec.name, sku)),
        Service::Single => super::sku_by_name(sku).and_then(|sku| single_sized_default(spec.name, sku)),
    });
    Some(sized.unwrap_or_else(|| spec.default.to_string()))
}

fn flexible_sized_default(name: &str, sku: &FlexibleSku) -> Option<String> {
    let memory_gib = u64::from(sku.memory_gib);
    // Up to 2 GiB: 16384 buffers of 8 kB per GiB (a quarter of memory above that).
    let shared_buffers = if memory_gib <= 2 { memory_gib * 16_384 } else { memory_gib * 32_768 };
    let value = match name {
        "max_connections" => u64::from(sku.default_max_connections),
        "shared_buffers" => shared_buffers,
        "effective_cache_size" => memory_gib * 131_072 - shared_buffers,
        // `(long)(82.5 * ln(memoryGiB) + 40) * 1024`, in kB.
        "maintenance_work_mem" => (82.5 * f64::from(sku.memory_gib).ln() + 40.0).floor() as u64 * 1024,
        "wal_buffers" if sku.vcores <= 4 => 2048,
        "wal_buffers" => 16_384,
        _ => return None,
    };
    Some(value.to_string())
}

fn single_sized_default(name: &str, sku: &SkuInfo) -> Option<String> {
    if name == "max_connections" {
        Some(sku.max_connections.to_string())
    } else if name == ReplicationSupport::PARAMETER && sku.tier == Tier::Basic {
        Some(ReplicationSupport::Off.as_str().to_string())
    } else {
        None
    }
}

/// Why `value` is not acceptable for `spec` (`None` when it is), saying what is allowed:
/// booleans and enumerations from `allowed` in any case, sets as comma lists of those, numbers
/// within the ranges of `allowed`. An integer may carry a PostgreSQL unit (`16MB`, `30s`),
/// converted to the parameter's unit. Whether users may set the parameter at all is
/// [`ParameterSpec::read_only`], not checked here.
pub fn value_problem(spec: &ParameterSpec, value: &str) -> Option<String> {
    normalize(spec, value).err()
}

/// `value` as the service expects it (`None` when [`value_problem`] refuses it): an integer in
/// the parameter's unit (`16MB` → `16384` for `work_mem`), booleans and enumeration values in
/// the allowed spelling, sets without spaces.
pub fn normalized_value(spec: &ParameterSpec, value: &str) -> Option<String> {
    normalize(spec, value).ok()
}

/// The known parameter `name` was probably meant as (a near miss only; `None` for a known
/// name).
pub fn parameter_suggestion(service: Service, name: &str) -> Option<&'static str> {
    if parameter(service, name).is_some() {
        return None;
    }
    let typed = name.to_ascii_lowercase();
    parameters(service)
        .iter()
        .map(|spec| (strsim::jaro_winkler(&typed, &spec.name.to_ascii_lowercase()), spec.name))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

fn normalize(spec: &ParameterSpec, value: &str) -> Result<String, String> {
    let text = value.trim();
    match spec.data_type {
        ParameterType::Boolean => {
            let options = if spec.allowed.trim().is_empty() { vec!["on", "off"] } else { choices(spec) };
            pick(&options, text)
                .ok_or_else(|| format!("{} must be {}, not '{value}'", spec.name, options.join(" or ")))
        }
        ParameterType::Enumeration => pick(&choices(spec), text)
            .ok_or_else(|| format!("{} must be one of {}, not '{value}'", spec.name, listing(spec))),
        ParameterType::Set => {
            let options: Vec<&str> = choices(spec).into_iter().filter(|o| !o.is_empty()).collect();
            let mut items = Vec::new();
            for item in text.split(',').map(str::trim).filter(|item| !item.is_empty()) {
                items.push(pick(&options, item).ok_or_else(|| {
                    format!(
                        "{} takes a comma-separated list of {}; '{item}' is not one of them",
                        spec.name,
                        options.join(", ")
                    )
                })?);
            }
            Ok(items.join(","))
        }
        ParameterType::Integer => integer(spec, text).map(|number| number.to_string()),
        ParameterType::Real => match text.parse::<f64>() {
            Ok(number) if number.is_finite() && within(spec.allowed, number) => Ok(text.to_string()),
            _ => Err(format!("{} must be a number within {}, not '{value}'", spec.name, spec.allowed)),
        },
        ParameterType::String => Ok(value.to_string()),
    }
}

/// The allowed values of an enumeration, boolean or set, trimmed (ARM writes `on, off` too).
fn choices(spec: &ParameterSpec) -> Vec<&'static str> {
    spec.allowed.split(',').map(str::trim).collect()
}

/// The allowed values for a message: quoted, the empty one named.
fn listing(spec: &ParameterSpec) -> String {
    let options = choices(spec);
    let named: Vec<String> = options.iter().filter(|o| !o.is_empty()).map(|o| format!("'{o}'")).collect();
    let empty = if options.contains(&"") { " (or empty)" } else { "" };
    format!("{}{empty}", named.join(", "))
}

fn pick(options: &[&str], text: &str) -> Option<String> {
    options.iter().find(|option| option.eq_ignore_ascii_case(text)).map(|option| option.to_string())
}

/// A unit's dimension and size in bytes or microseconds (ARM's spellings and PostgreSQL's).
fn unit_size(unit: &str) -> Option<(Dimension, i128)> {
    use Dimension::{Memory, Time};
    Some(match unit.to_ascii_lowercase().as_str() {
        "b" | "bytes" => (Memory, 1),
        "kb" => (Memory, 1 << 10),
        "8kb" => (Memory, 8 << 10),
        "mb" | "megabytes" => (Memory, 1 << 20),
        "gb" => (Memory, 1 << 30),
        "tb" => (Memory, 1 << 40),
        "us" | "microseconds" => (Time, 1),
        "ms" | "milliseconds" => (Time, 1_000),
        "s" | "seconds" => (Time, 1_000_000),
        "min" | "minutes" => (Time, 60_000_000),
        "h" | "hours" => (Time, 3_600_000_000),
        "d" | "days" => (Time, 86_400_000_000),
        _ => return None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dimension {
    Memory,
    Time,
}

/// An integer value in the parameter's unit: a number, or a number with a unit of the same
/// dimension that converts to a whole number of the parameter's unit; within `allowed`.
fn integer(spec: &ParameterSpec, text: &str) -> Result<i64, String> {
    let unit = spec.unit.and_then(|unit| unit_size(unit).map(|size| (unit, size)));
    let refusal = || {
        let ranges =
            if spec.allowed.is_empty() { String::new() } else { format!(" within {}", spec.allowed) };
        let units = match unit {
            Some((unit, (Dimension::Memory, _))) => format!(" (in {unit}, or with a unit such as 64MB)"),
            Some((unit, (Dimension::Time, _))) => format!(" (in {unit}, or with a unit such as 30s)"),
            None => String::new(),
        };
        format!("{} must be an integer{ranges}{units}, not '{text}'", spec.name)
    };
    let digits = text
        .char_indices()
        .find(|&(index, c)| !(c.is_ascii_digit() || (index == 0 && (c == '-' || c == '+'))));
    let (number, suffix) = text.split_at(digits.map_or(text.len(), |(index, _)| index));
    let number: i64 = number.parse().map_err(|_| refusal())?;
    let suffix = suffix.trim();
    let value = if suffix.is_empty() {
        number
    } else {
        let (Some((unit, (dimension, size))), Some((given, given_size))) = (unit, unit_size(suffix)) else {
            return Err(refusal());
        };
        if given != dimension {
            return Err(refusal());
        }
        let total = i128::from(number) * given_size;
        if total % size != 0 {
            return Err(format!("{} is in {unit}: '{text}' is not a whole number of {unit}", spec.name));
        }
        i64::try_from(total / size).map_err(|_| refusal())?
    };
    // Integers up to 2^53 are exact as f64, and every bound in the tables is below that.
    if within(spec.allowed, value as f64) { Ok(value) } else { Err(refusal()) }
}

/// Whether `number` lies in one of the ranges of `allowed` (`a-b` or a single number, comma
/// separated); an empty or non-numeric `allowed` sets no bound.
fn within(allowed: &str, number: f64) -> bool {
    if allowed.trim().is_empty() {
        return true;
    }
    let ranges: Option<Vec<(f64, f64)>> = allowed.split(',').map(range).collect();
    ranges.is_none_or(|ranges| ranges.iter().any(|&(low, high)| low <= number && number <= high))
}

/// `a-b` where either bound may be negative or in exponent form (`-1-100`, `0.001-1e+06`), or a
/// single number.
fn range(item: &str) -> Option<(f64, f64)> {
    let item = item.trim();
    if let Ok(single) = item.parse::<f64>() {
        return Some((single, single));
    }
    let bytes = item.as_bytes();
    let split = (1..bytes.len()).find(|&i| bytes[i] == b'-' && !matches!(bytes[i - 1], b'e' | b'E'))?;
    Some((item[..split].trim().parse().ok()?, item[split + 1..].trim().parse().ok()?))
}

/// How a change applies.
#[derive(Clone, Copy)]
struct Mode {
    is_static: bool,
    read_only: bool,
}

const DYNAMIC: Mode = Mode { is_static: false, read_only: false };
const STATIC: Mode = Mode { is_static: true, read_only: false };
const READ_ONLY: Mode = Mode { is_static: false, read_only: true };
const STATIC_READ_ONLY: Mode = Mode { is_static: true, read_only: true };

const fn p(
    name: &'static str,
    data_type: ParameterType,
    default: &'static str,
    allowed: &'static str,
    unit: Option<&'static str>,
    mode: Mode,
    description: &'static str,
) -> ParameterSpec {
    ParameterSpec {
        name,
        data_type,
        default,
        allowed,
        unit,
        is_static: mode.is_static,
        read_only: mode.read_only,
        description,
    }
}

const ON_OFF: &str = "on,off";
const REAL_RANGE: &str = "0-1.79769e+308";
const INT_RANGE: &str = "0-2147483647";
const DURATION: &str = "-1-2147483647";
const LOG_LEVELS: &str = "debug5,debug4,debug3,debug2,debug1,info,notice,warning,error,log,fatal,panic";
const CLIENT_LEVELS: &str = "debug5,debug4,debug3,debug2,debug1,log,notice,warning,error";
const ISOLATION: &str = "serializable,repeatable read,read committed,read uncommitted";
const FLEX_PRELOAD: &str = ",age,anon,auto_explain,azure_storage,credcheck,pg_cron,pg_duckdb,pg_hint_plan,pg_ivm,\
pg_partman_bgw,pg_prewarm,pg_squeeze,pg_stat_statements,pgaudit,pglogical,timescaledb,wal2json";
const FLEX_EXTENSIONS: &str = ",address_standardizer,address_standardizer_data_us,age,amcheck,anon,azure_ai,\
azure_storage,bloom,btree_gin,btree_gist,citext,credcheck,cube,dblink,dict_int,dict_xsyn,earthdistance,\
fuzzystrmatch,hll,hstore,hypopg,intagg,intarray,ip4r,isn,lo,login_hook,ltree,oracle_fdw,orafce,pageinspect,\
pg_buffercache,pg_cron,pg_diskann,pg_duckdb,pg_freespacemap,pg_hint_plan,pg_ivm,pg_partman,pg_prewarm,\
pg_repack,pg_squeeze,pg_stat_statements,pg_trgm,pg_visibility,pgaudit,pgcrypto,pglogical,pgrouting,\
pgrowlocks,pgstattuple,plpgsql,plv8,postgis,postgis_raster,postgis_sfcgal,postgis_tiger_geocoder,\
postgis_topology,postgres_fdw,postgres_protobuf,semver,session_variable,sslinfo,tablefunc,tdigest,tds_fdw,\
timescaledb,topn,tsm_system_rows,tsm_system_time,unaccent,uuid-ossp,vector";
const ENCODINGS: &str = "BIG5,EUC_CN,EUC_JP,EUC_JIS_2004,EUC_KR,EUC_TW,GB18030,GBK,ISO_8859_5,ISO_8859_6,\
ISO_8859_7,ISO_8859_8,JOHAB,KOI8R,KOI8U,LATIN1,LATIN2,LATIN3,LATIN4,LATIN5,LATIN6,LATIN7,LATIN8,LATIN9,\
LATIN10,MULE_INTERNAL,SJIS,SHIFT_JIS_2004,SQL_ASCII,UHC,UTF8,WIN866,WIN874,WIN1250,WIN1251,WIN1252,WIN1253,\
WIN1254,WIN1255,WIN1256,WIN1257,WIN1258";

// The tables keep one parameter a line, wider than the usual 110 columns: formatted one
// argument a line they would be several times longer and no easier to scan.
#[rustfmt::skip]
const FLEXIBLE: &[ParameterSpec] = &[
    // Connections and authentication.
    p("max_connections", Int, "859", "25-5000", None, STATIC, "Most concurrent connections; follows the compute (859 on 8 GiB)."),
    p("superuser_reserved_connections", Int, "10", "10", None, STATIC_READ_ONLY, "Connection slots kept for superusers."),
    p("port", Int, "5432", "5432", None, STATIC_READ_ONLY, "TCP port the server listens on."),
    p("password_encryption", Enum, "scram-sha-256", "md5,scram-sha-256", None, DYNAMIC, "Algorithm that hashes new passwords."),
    p("azure.accepted_password_auth_method", Set, "md5,scram-sha-256", "md5,scram-sha-256", None, DYNAMIC, "Password authentication methods the server accepts."),
    p("require_secure_transport", Bool, "on", ON_OFF, None, DYNAMIC, "Refuse client connections without TLS."),
    p("ssl", Bool, "on", "on", None, READ_ONLY, "TLS connections are enabled (always)."),
    p("ssl_min_protocol_version", Enum, "TLSv1.2", "TLSv1.2,TLSv1.3", None, DYNAMIC, "Oldest TLS version a client may use."),
    p("ssl_max_protocol_version", Enum, "", ",TLSv1.2,TLSv1.3", None, DYNAMIC, "Newest TLS version a client may use (empty: no limit)."),
    p("tcp_keepalives_idle", Int, "120", INT_RANGE, Some("s"), DYNAMIC, "Idle time before TCP keepalives are sent (0: system default)."),
    p("tcp_keepalives_interval", Int, "30", INT_RANGE, Some("s"), DYNAMIC, "Time between unanswered TCP keepalives (0: system default)."),
    p("tcp_keepalives_count", Int, "9", INT_RANGE, None, DYNAMIC, "Lost keepalives before a connection counts as dead."),
    // Memory.
    p("shared_buffers", Int, "262144", "16-1073741823", Some("8kB"), STATIC, "Shared buffer cache; follows memory (262144 x 8 kB on 8 GiB)."),
    p("work_mem", Int, "4096", "4096-2097151", Some("kB"), DYNAMIC, "Memory a sort or hash may use before spilling to disk."),
    p("maintenance_work_mem", Int, "216064", "1024-2097151", Some("kB"), DYNAMIC, "Memory for VACUUM, CREATE INDEX and the like; follows memory (216064 on 8 GiB)."),
    p("autovacuum_work_mem", Int, "-1", "-1-2097151", Some("KB"), DYNAMIC, "Memory per autovacuum worker (-1: maintenance_work_mem)."),
    p("effective_cache_size", Int, "786432", "1-2147483647", Some("8kB"), DYNAMIC, "Planner's estimate of the data cache; follows memory (786432 x 8 kB on 8 GiB)."),
    p("temp_buffers", Int, "1024", "100-1073741823", Some("8kB"), DYNAMIC, "Per-session buffers for temporary tables."),
    p("logical_decoding_work_mem", Int, "65536", "64-2147483647", Some("kB"), DYNAMIC, "Memory for logical decoding before spilling to disk."),
    p("hash_mem_multiplier", Real, "2", "1-1000", None, DYNAMIC, "Multiple of work_mem a hash table may use."),
    p("huge_pages", Enum, "try", "on,off,try", None, STATIC, "Use of huge memory pages (servers of 4 vCores or more)."),
    p("max_prepared_transactions", Int, "0", "0-262143", None, STATIC, "Most transactions in the prepared state at once."),
    p("vacuum_buffer_usage_limit", Int, "2048", "0-16777216", Some("KB"), DYNAMIC, "Buffer ring of VACUUM, ANALYZE and autovacuum."),
    p("temp_file_limit", Int, "-1", DURATION, Some("kB"), DYNAMIC, "Most temporary-file space per process (-1: no limit)."),
    // Parallelism and the background writer.
    p("max_worker_processes", Int, "8", "0-262143", None, STATIC, "Most background worker processes."),
    p("max_parallel_workers", Int, "8", "0-1024", None, DYNAMIC, "Most parallel workers active at once."),
    p("max_parallel_workers_per_gather", Int, "2", "0-1024", None, DYNAMIC, "Most parallel workers per query node."),
    p("max_parallel_maintenance_workers", Int, "2", "0-64", None, DYNAMIC, "Most parallel workers per maintenance command."),
    p("effective_io_concurrency", Int, "1", "0-1000", None, DYNAMIC, "Concurrent disk reads the planner may assume."),
    p("backend_flush_after", Int, "256", "0-256", Some("8KB"), DYNAMIC, "Pages a backend writes before it forces a flush."),
    p("bgwriter_delay", Int, "20", "10-10000", Some("ms"), DYNAMIC, "Sleep between background writer rounds."),
    p("bgwriter_lru_maxpages", Int, "100", "0-1073741823", None, DYNAMIC, "Most buffers the background writer writes per round."),
    p("bgwriter_lru_multiplier", Real, "2", "0-10", None, DYNAMIC, "Background writer's multiple of recent buffer demand."),
    p("bgwriter_flush_after", Int, "64", "0-256", Some("8kB"), DYNAMIC, "Pages the background writer writes before it forces a flush."),
    // Write-ahead log and checkpoints.
    p("wal_level", Enum, "replica", "replica,logical", None, STATIC, "How much information the WAL carries."),
    p("wal_buffers", Int, "2048", "-1-262143", Some("8kB"), STATIC, "WAL buffers in shared memory; 2048 up to 4 vCores, 16384 above."),
    p("wal_compression", Enum, "on", "pglz,lz4,on,off", None, DYNAMIC, "Compression of full-page images in the WAL."),
    p("wal_writer_delay", Int, "200", "1-10000", Some("ms"), DYNAMIC, "Time between WAL writer flushes."),
    p("wal_writer_flush_after", Int, "128", INT_RANGE, Some("8KB"), DYNAMIC, "WAL the WAL writer writes before it forces a flush."),
    p("commit_delay", Int, "0", "0-100000", Some("microseconds"), DYNAMIC, "Wait before a commit flushes the WAL, to group commits."),
    p("commit_siblings", Int, "5", "0-1000", None, DYNAMIC, "Open transactions needed before commit_delay applies."),
    p("synchronous_commit", Enum, "on", "local,remote_write,on,off", None, READ_ONLY, "Whether a commit waits for its WAL to be flushed."),
    p("fsync", Bool, "on", ON_OFF, None, READ_ONLY, "Force writes to disk."),
    p("full_page_writes", Bool, "on", ON_OFF, None, READ_ONLY, "Write whole pages to the WAL after each checkpoint."),
    p("checkpoint_timeout", Int, "600", "30-86400", Some("s"), DYNAMIC, "Longest time between automatic checkpoints."),
    p("checkpoint_completion_target", Real, "0.9", "0-1", None, DYNAMIC, "Fraction of the checkpoint interval its writes are spread over."),
    p("checkpoint_warning", Int, "30", INT_RANGE, Some("s"), DYNAMIC, "Warn when WAL-triggered checkpoints come closer than this."),
    p("max_wal_size", Int, "12288", "32-65536", Some("MB"), DYNAMIC, "WAL size that triggers a checkpoint; follows the disk (12288 on 128 GiB)."),
    p("min_wal_size", Int, "80", "32-2097151", Some("megabytes"), DYNAMIC, "WAL kept for reuse below this size."),
    // Replication.
    p("max_wal_senders", Int, "10", "5-100", None, STATIC, "Most concurrent WAL sender processes."),
    p("max_replication_slots", Int, "10", "2-262143", None, STATIC, "Most replication slots."),
    p("wal_sender_timeout", Int, "60000", INT_RANGE, Some("milliseconds"), DYNAMIC, "Drop replication connections silent for longer than this."),
    p("wal_receiver_timeout", Int, "60000", INT_RANGE, Some("milliseconds"), DYNAMIC, "A standby drops a replication connection silent for longer than this."),
    p("wal_keep_size", Int, "400", "400", Some("megabytes"), READ_ONLY, "WAL kept for standbys."),
    p("hot_standby_feedback", Bool, "off", ON_OFF, None, DYNAMIC, "Standbys tell the primary about their queries to avoid conflicts."),
    p("max_standby_archive_delay", Int, "30000", DURATION, Some("ms"), DYNAMIC, "How long a standby holds archived WAL back for conflicting queries."),
    p("max_standby_streaming_delay", Int, "30000", DURATION, Some("ms"), DYNAMIC, "How long a standby holds streamed WAL back for conflicting queries."),
    p("track_commit_timestamp", Bool, "off", ON_OFF, None, STATIC, "Record when each transaction committed."),
    p("max_logical_replication_workers", Int, "4", "0-262143", None, STATIC, "Most logical replication workers."),
    p("max_sync_workers_per_subscription", Int, "2", "0-262143", None, DYNAMIC, "Most table synchronisation workers per subscription."),
    // Autovacuum and vacuum.
    p("autovacuum", Bool, "on", ON_OFF, None, DYNAMIC, "Run the autovacuum launcher."),
    p("autovacuum_max_workers", Int, "3", "1-262143", None, STATIC, "Most autovacuum workers at once."),
    p("autovacuum_naptime", Int, "60", "1-2147483", Some("s"), DYNAMIC, "Pause between autovacuum runs on one database."),
    p("autovacuum_vacuum_threshold", Int, "50", INT_RANGE, None, DYNAMIC, "Changed rows before a table is vacuumed (plus the scale factor)."),
    p("autovacuum_vacuum_scale_factor", Real, "0.2", "0-100", None, DYNAMIC, "Fraction of a table's rows added to the vacuum threshold."),
    p("autovacuum_vacuum_insert_threshold", Int, "1000", DURATION, None, DYNAMIC, "Inserted rows before a table is vacuumed (-1: never)."),
    p("autovacuum_vacuum_insert_scale_factor", Real, "0.2", "0-100", None, DYNAMIC, "Fraction of a table's rows added to the insert threshold."),
    p("autovacuum_analyze_threshold", Int, "50", INT_RANGE, None, DYNAMIC, "Changed rows before a table is analyzed (plus the scale factor)."),
    p("autovacuum_analyze_scale_factor", Real, "0.1", "0-100", None, DYNAMIC, "Fraction of a table's rows added to the analyze threshold."),
    p("autovacuum_vacuum_cost_delay", Int, "2", "-1-100", Some("ms"), DYNAMIC, "Autovacuum's sleep once its cost limit is reached (-1: vacuum_cost_delay)."),
    p("autovacuum_vacuum_cost_limit", Int, "-1", "-1-10000", None, DYNAMIC, "Autovacuum's cost budget between sleeps (-1: vacuum_cost_limit)."),
    p("autovacuum_freeze_max_age", Int, "200000000", "100000-2000000000", None, STATIC, "Transaction age that forces a vacuum against ID wraparound."),
    p("autovacuum_multixact_freeze_max_age", Int, "400000000", "10000-2000000000", None, STATIC, "Multixact age that forces a vacuum against wraparound."),
    p("vacuum_cost_delay", Int, "0", "0-100", Some("ms"), DYNAMIC, "A manual VACUUM's sleep once its cost limit is reached."),
    p("vacuum_cost_limit", Int, "200", "1-10000", None, DYNAMIC, "A manual VACUUM's cost budget between sleeps."),
    p("vacuum_freeze_min_age", Int, "50000000", "0-1000000000", None, DYNAMIC, "Row age at which VACUUM freezes the row."),
    p("vacuum_freeze_table_age", Int, "150000000", "0-2000000000", None, DYNAMIC, "Table age at which VACUUM scans the whole table to freeze it."),
    p("vacuum_failsafe_age", Int, "1600000000", "0-2100000000", None, DYNAMIC, "Table age at which VACUUM skips all but wraparound protection."),
    // Statements, sessions and locks.
    p("statement_timeout", Int, "0", INT_RANGE, Some("ms"), DYNAMIC, "Cancel statements running longer than this (0: never)."),
    p("lock_timeout", Int, "0", INT_RANGE, Some("ms"), DYNAMIC, "Give up waiting for a lock after this (0: never)."),
    p("idle_in_transaction_session_timeout", Int, "0", INT_RANGE, Some("ms"), DYNAMIC, "End sessions idle inside a transaction this long (0: never)."),
    p("idle_session_timeout", Int, "0", INT_RANGE, Some("ms"), DYNAMIC, "End sessions idle outside a transaction this long (0: never)."),
    p("transaction_timeout", Int, "0", INT_RANGE, Some("ms"), DYNAMIC, "End transactions running longer than this (0: never)."),
    p("deadlock_timeout", Int, "1000", "1-2147483647", Some("ms"), DYNAMIC, "Lock wait before a deadlock check."),
    p("max_locks_per_transaction", Int, "64", "10-8388608", None, STATIC, "Object locks per transaction the lock table is sized for."),
    p("default_transaction_isolation", Enum, "read committed", ISOLATION, None, DYNAMIC, "Isolation level of new transactions."),
    p("default_transaction_read_only", Bool, "off", ON_OFF, None, DYNAMIC, "Whether new transactions are read-only."),
    p("search_path", Text, "\"$user\", public", "[A-Za-z0-9.\"$,_ -]+", None, DYNAMIC, "Schemas searched for unqualified names."),
    p("TimeZone", Text, "UTC", "[A-Za-z0-9/+_-]+", None, DYNAMIC, "Time zone for showing and reading time stamps."),
    p("DateStyle", Text, "ISO, MDY", "(ISO|POSTGRES|SQL|GERMAN)(, (DMY|MDY|YMD))?", None, DYNAMIC, "Date output format and reading of ambiguous dates."),
    p("client_min_messages", Enum, "notice", CLIENT_LEVELS, None, DYNAMIC, "Lowest message level sent to clients."),
    p("bytea_output", Enum, "hex", "escape,hex", None, DYNAMIC, "Output format of bytea values."),
    p("session_replication_role", Enum, "origin", "origin,replica,local", None, DYNAMIC, "Which triggers and rules fire in a session."),
    p("gin_pending_list_limit", Int, "4096", "64-2097151", Some("KB"), DYNAMIC, "Largest GIN pending list before it is flushed."),
    p("jit", Bool, "off", ON_OFF, None, DYNAMIC, "Allow JIT compilation of queries."),
    // Planner.
    p("random_page_cost", Real, "2", REAL_RANGE, None, DYNAMIC, "Planner's cost of a non-sequential page read."),
    p("seq_page_cost", Real, "1", REAL_RANGE, None, DYNAMIC, "Planner's cost of a sequential page read."),
    p("cpu_tuple_cost", Real, "0.01", REAL_RANGE, None, DYNAMIC, "Planner's cost of processing one row."),
    p("default_statistics_target", Int, "100", "1-10000", None, DYNAMIC, "Detail of the statistics ANALYZE gathers per column."),
    // Logging.
    p("log_min_messages", Enum, "warning", LOG_LEVELS, None, DYNAMIC, "Lowest message level written to the server log."),
    p("log_min_error_statement", Enum, "error", LOG_LEVELS, None, DYNAMIC, "Lowest error level whose statement is logged."),
    p("log_min_duration_statement", Int, "-1", DURATION, Some("ms"), DYNAMIC, "Log statements running at least this long (-1: off)."),
    p("log_statement", Enum, "none", "none,ddl,mod,all", None, DYNAMIC, "Which statements are logged."),
    p("log_connections", Bool, "on", ON_OFF, None, DYNAMIC, "Log each connection."),
    p("log_disconnections", Bool, "on", ON_OFF, None, DYNAMIC, "Log the end of each session."),
    p("log_checkpoints", Bool, "on", ON_OFF, None, DYNAMIC, "Log each checkpoint."),
    p("log_duration", Bool, "off", ON_OFF, None, DYNAMIC, "Log the duration of every statement."),
    p("log_lock_waits", Bool, "off", ON_OFF, None, DYNAMIC, "Log lock waits longer than deadlock_timeout."),
    p("log_autovacuum_min_duration", Int, "-1", DURATION, Some("ms"), DYNAMIC, "Log autovacuum actions running at least this long (-1: off)."),
    p("log_temp_files", Int, "-1", DURATION, Some("kB"), DYNAMIC, "Log temporary files at least this large (-1: off)."),
    p("log_error_verbosity", Enum, "default", "terse,default,verbose", None, DYNAMIC, "Detail written for each logged message."),
    p("log_line_prefix", Text, "%t-%c-", "[^']*", None, DYNAMIC, "printf-style prefix of each log line."),
    p("logfiles.download_enable", Bool, "off", ON_OFF, None, DYNAMIC, "Keep server logs for download."),
    p("logfiles.retention_days", Int, "3", "1-7", None, DYNAMIC, "Days downloadable server logs are kept."),
    // Statistics.
    p("track_io_timing", Bool, "off", ON_OFF, None, DYNAMIC, "Time I/O calls for the statistics views."),
    p("track_activity_query_size", Int, "1024", "100-102400", Some("B"), STATIC, "Bytes of each session's current query kept for pg_stat_activity."),
    // Extensions and Azure features. The ARM answer reports `shared_preload_libraries` with
    // `defaultValue` pg_stat_statements and the value below, which Microsoft's table gives as
    // the default; the value is what a new server shows.
    p("shared_preload_libraries", Set, "pg_cron,pg_stat_statements", FLEX_PRELOAD, None, STATIC, "Libraries loaded when the server starts."),
    p("azure.extensions", Set, "", FLEX_EXTENSIONS, None, DYNAMIC, "Extensions that may be created in the server's databases."),
    p("pg_stat_statements.track", Enum, "none", "top,all,none", None, DYNAMIC, "Which statements pg_stat_statements counts."),
    p("pg_stat_statements.max", Int, "5000", "100-2147483647", None, STATIC, "Most statements pg_stat_statements tracks."),
    p("pg_stat_statements.track_utility", Bool, "on", ON_OFF, None, DYNAMIC, "Whether pg_stat_statements counts utility commands."),
    p("pgaudit.log", Set, "none", "none,read,write,function,role,ddl,misc,all", None, DYNAMIC, "Statement classes pgAudit logs."),
    p("pgaudit.log_catalog", Bool, "on", ON_OFF, None, DYNAMIC, "Audit statements that touch only pg_catalog."),
    p("pgaudit.log_parameter", Bool, "off", ON_OFF, None, DYNAMIC, "Include statement parameters in audit entries."),
    p("pg_qs.query_capture_mode", Enum, "top", "top,all,none", None, DYNAMIC, "Which statements Query Store captures."),
    p("pg_qs.retention_period_in_days", Int, "7", "1-30", None, DYNAMIC, "Days Query Store keeps its data."),
    p("pgms_wait_sampling.query_capture_mode", Enum, "all", "all,none", None, DYNAMIC, "Which statements wait sampling covers."),
    p("pgbouncer.enabled", Bool, "false", "true,false", None, DYNAMIC, "Run the built-in PgBouncer."),
    p("metrics.collector_database_activity", Bool, "off", ON_OFF, None, DYNAMIC, "Collect the enhanced database and activity metrics."),
    p("azure.enable_temp_tablespaces_on_local_ssd", Bool, "on", ON_OFF, None, DYNAMIC, "Keep temporary objects on the local SSD."),
    p("azure.fabric_mirror_enabled", Bool, "off", ON_OFF, None, DYNAMIC, "Check and turn on the prerequisites of Fabric mirroring."),
    p("cron.database_name", Text, "postgres", "[A-Za-z0-9_]+", None, STATIC, "Database that holds pg_cron's metadata."),
];

// Defaults and allowed values as the 2017-12-01 example lists them (a PostgreSQL 9.6/10 server),
// but `log_checkpoints` and `log_connections`, on by default per the logging page. Units and the
// restart flag come from PostgreSQL's documentation (`postmaster` context = static).
// `sql_inheritance`, `default_with_oids` and `min_parallel_relation_size`, in the example, are
// left out: PostgreSQL 10 to 12 removed them.
#[rustfmt::skip]
const SINGLE: &[ParameterSpec] = &[
    // Replication, preloading and logging collection: the settable ones that need a restart.
    p(ReplicationSupport::PARAMETER, Enum, "REPLICA", "OFF,REPLICA,LOGICAL", None, STATIC, "WAL detail for read replicas (REPLICA) or logical decoding (LOGICAL); OFF on Basic."),
    // The default is not documented (pg_stat_statements is always loaded); the type is assumed
    // to be a set, as on Flexible Server.
    p("shared_preload_libraries", Set, "", ",pg_prewarm,pg_stat_statements,pgaudit,timescaledb", None, STATIC, "Libraries loaded when the server starts (pgaudit, pg_prewarm, timescaledb)."),
    p("logging_collector", Bool, "on", ON_OFF, None, STATIC, "Write the server log to the downloadable .log files."),
    p("max_locks_per_transaction", Int, "64", "10-2147483647", None, STATIC, "Object locks per transaction the lock table is sized for."),
    p("max_pred_locks_per_transaction", Int, "64", "10-2147483647", None, STATIC, "Predicate locks per transaction the lock table is sized for."),
    p("max_prepared_transactions", Int, "0", "0-8388607", None, STATIC, "Most transactions in the prepared state at once."),
    // Fixed by the SKU; default_value gives each SKU's (150 on GP_Gen5_2). The API does not list
    // it and its allowedValues are unknown.
    p("max_connections", Int, "150", "", None, STATIC_READ_ONLY, "Most concurrent connections, fixed by the SKU."),
    // Logging.
    p("log_checkpoints", Bool, "on", ON_OFF, None, DYNAMIC, "Log each checkpoint."),
    p("log_connections", Bool, "on", ON_OFF, None, DYNAMIC, "Log each connection."),
    p("log_disconnections", Bool, "off", ON_OFF, None, DYNAMIC, "Log the end of each session."),
    p("log_duration", Bool, "off", ON_OFF, None, DYNAMIC, "Log the duration of every statement."),
    p("log_error_verbosity", Enum, "default", "terse,default,verbose", None, DYNAMIC, "Detail written for each logged message."),
    p("log_lock_waits", Bool, "off", ON_OFF, None, DYNAMIC, "Log lock waits longer than deadlock_timeout."),
    p("log_min_duration_statement", Int, "-1", DURATION, Some("ms"), DYNAMIC, "Log statements running at least this long (-1: off)."),
    p("log_min_error_statement", Enum, "error", LOG_LEVELS, None, DYNAMIC, "Lowest error level whose statement is logged."),
    p("log_min_messages", Enum, "warning", LOG_LEVELS, None, DYNAMIC, "Lowest message level written to the server log."),
    p("log_retention_days", Int, "3", "1-7", None, DYNAMIC, "Days the downloadable .log files are kept."),
    p("log_statement", Enum, "none", "none,ddl,mod,all", None, DYNAMIC, "Which statements are logged."),
    p("debug_print_parse", Bool, "off", ON_OFF, None, DYNAMIC, "Log each query's parse tree."),
    p("debug_print_plan", Bool, "off", ON_OFF, None, DYNAMIC, "Log each query's execution plan."),
    p("debug_print_rewritten", Bool, "off", ON_OFF, None, DYNAMIC, "Log each query's rewritten parse tree."),
    // Query Store and statement statistics.
    p("pg_stat_statements.track", Enum, "top", "top,all,none", None, DYNAMIC, "Which statements pg_stat_statements counts."),
    p("pg_qs.query_capture_mode", Enum, "none", "none,top,all", None, DYNAMIC, "Which statements Query Store captures."),
    p("pg_qs.max_query_text_length", Int, "6000", "100-10000", None, DYNAMIC, "Longest query text Query Store keeps."),
    p("pg_qs.retention_period_in_days", Int, "7", "1-30", None, DYNAMIC, "Days Query Store keeps its data."),
    p("pg_qs.track_utility", Bool, "on", ON_OFF, None, DYNAMIC, "Whether Query Store tracks utility commands."),
    p("pgms_wait_sampling.query_capture_mode", Enum, "none", "none,all", None, DYNAMIC, "Which statements wait sampling covers."),
    p("pgms_wait_sampling.history_period", Int, "100", "1-600000", Some("ms"), DYNAMIC, "How often wait events are sampled."),
    // Memory: settable per the server-parameters page; PostgreSQL's defaults and ranges (kB).
    p("work_mem", Int, "4096", "64-2097151", Some("kB"), DYNAMIC, "Memory a sort or hash may use before spilling to disk."),
    p("maintenance_work_mem", Int, "65536", "1024-2097151", Some("kB"), DYNAMIC, "Memory for VACUUM, CREATE INDEX and the like."),
    // Statements, sessions and locks.
    p("statement_timeout", Int, "0", INT_RANGE, Some("ms"), DYNAMIC, "Cancel statements running longer than this (0: never)."),
    p("lock_timeout", Int, "0", INT_RANGE, Some("ms"), DYNAMIC, "Give up waiting for a lock after this (0: never)."),
    p("idle_in_transaction_session_timeout", Int, "0", INT_RANGE, Some("ms"), DYNAMIC, "End sessions idle inside a transaction this long (0: never)."),
    p("deadlock_timeout", Int, "1000", "1-2147483647", Some("ms"), DYNAMIC, "Lock wait before a deadlock check."),
    p("default_transaction_isolation", Enum, "read committed", ISOLATION, None, DYNAMIC, "Isolation level of new transactions."),
    p("default_transaction_read_only", Bool, "off", ON_OFF, None, DYNAMIC, "Whether new transactions are read-only."),
    p("default_transaction_deferrable", Bool, "off", ON_OFF, None, DYNAMIC, "Whether new serializable read-only transactions wait to run safely."),
    p("synchronous_commit", Enum, "on", "local,remote_write,on,off", None, DYNAMIC, "Whether a commit waits for its WAL to be flushed."),
    p("search_path", Text, "\"$user\", public", "[A-Za-z.\"$, ]+", None, DYNAMIC, "Schemas searched for unqualified names."),
    p("check_function_bodies", Bool, "on", ON_OFF, None, DYNAMIC, "Check function bodies during CREATE FUNCTION."),
    p("exit_on_error", Bool, "off", ON_OFF, None, DYNAMIC, "End the session on any error."),
    // Client defaults and compatibility.
    p("client_encoding", Enum, "sql_ascii", ENCODINGS, None, DYNAMIC, "Character set of the client."),
    p("client_min_messages", Enum, "notice", CLIENT_LEVELS, None, DYNAMIC, "Lowest message level sent to clients."),
    p("datestyle", Text, "iso, mdy", "(iso|postgres|sql|german)\\,\\s(dmy|mdy|ymd)", None, DYNAMIC, "Date output format and reading of ambiguous dates."),
    p("intervalstyle", Enum, "postgres", "postgres,postgres_verbose,sql_standard,iso_8601", None, DYNAMIC, "Output format of interval values."),
    p("extra_float_digits", Int, "0", "-15-3", None, DYNAMIC, "Extra digits shown for floating-point values."),
    p("bytea_output", Enum, "hex", "escape,hex", None, DYNAMIC, "Output format of bytea values."),
    p("xmlbinary", Enum, "base64", "base64,hex", None, DYNAMIC, "Encoding of binary values in XML."),
    p("xmloption", Enum, "content", "content,document", None, DYNAMIC, "Whether XML values are documents or content fragments."),
    p("default_text_search_config", Text, "pg_catalog.english", "[A-Za-z\\._]+", None, DYNAMIC, "Default text search configuration."),
    p("array_nulls", Bool, "on", ON_OFF, None, DYNAMIC, "Read unquoted NULL in array input as a null."),
    p("backslash_quote", Enum, "safe_encoding", "safe_encoding,on,off", None, DYNAMIC, "Whether \\' is accepted in string literals."),
    p("escape_string_warning", Bool, "on", ON_OFF, None, DYNAMIC, "Warn about backslash escapes in ordinary string literals."),
    p("standard_conforming_strings", Bool, "on", ON_OFF, None, DYNAMIC, "Treat backslashes in ordinary string literals literally."),
    p("quote_all_identifiers", Bool, "off", ON_OFF, None, DYNAMIC, "Quote every identifier in generated SQL."),
    p("transform_null_equals", Bool, "off", ON_OFF, None, DYNAMIC, "Treat expr = NULL as expr IS NULL."),
    p("synchronize_seqscans", Bool, "on", ON_OFF, None, DYNAMIC, "Let concurrent sequential scans share reads."),
    p("gin_fuzzy_search_limit", Int, "0", INT_RANGE, None, DYNAMIC, "Most rows a GIN index scan returns (0: no limit)."),
    // Planner.
    p("constraint_exclusion", Enum, "partition", "partition,on,off", None, DYNAMIC, "When the planner uses constraints to skip tables."),
    p("cpu_index_tuple_cost", Real, "0.005", REAL_RANGE, None, DYNAMIC, "Planner's cost of processing one index entry."),
    p("cpu_operator_cost", Real, "0.0025", REAL_RANGE, None, DYNAMIC, "Planner's cost of one operator or function call."),
    p("cpu_tuple_cost", Real, "0.01", REAL_RANGE, None, DYNAMIC, "Planner's cost of processing one row."),
    p("cursor_tuple_fraction", Real, "0.1", "0-1", None, DYNAMIC, "Fraction of a cursor's rows the planner expects to be fetched."),
    p("random_page_cost", Real, "4.0", REAL_RANGE, None, DYNAMIC, "Planner's cost of a non-sequential page read."),
    p("seq_page_cost", Real, "1.0", REAL_RANGE, None, DYNAMIC, "Planner's cost of a sequential page read."),
    p("parallel_setup_cost", Real, "1000", REAL_RANGE, None, DYNAMIC, "Planner's cost of starting parallel workers."),
    p("parallel_tuple_cost", Real, "0.1", REAL_RANGE, None, DYNAMIC, "Planner's cost of passing one row from a worker."),
    p("max_parallel_workers_per_gather", Int, "0", "0-1024", None, DYNAMIC, "Most parallel workers per query node."),
    p("force_parallel_mode", Enum, "off", "off,on,regress", None, DYNAMIC, "Force parallel query nodes (for testing)."),
    p("default_statistics_target", Int, "100", "1-10000", None, DYNAMIC, "Detail of the statistics ANALYZE gathers per column."),
    p("from_collapse_limit", Int, "8", "1-2147483647", None, DYNAMIC, "FROM-list size up to which subqueries are merged."),
    p("join_collapse_limit", Int, "8", "1-2147483647", None, DYNAMIC, "FROM-list size up to which explicit JOINs are flattened."),
    p("enable_bitmapscan", Bool, "on", ON_OFF, None, DYNAMIC, "Let the planner use bitmap scans."),
    p("enable_hashagg", Bool, "on", ON_OFF, None, DYNAMIC, "Let the planner use hashed aggregation."),
    p("enable_hashjoin", Bool, "on", ON_OFF, None, DYNAMIC, "Let the planner use hash joins."),
    p("enable_indexonlyscan", Bool, "on", ON_OFF, None, DYNAMIC, "Let the planner use index-only scans."),
    p("enable_indexscan", Bool, "on", ON_OFF, None, DYNAMIC, "Let the planner use index scans."),
    p("enable_material", Bool, "on", ON_OFF, None, DYNAMIC, "Let the planner use materialization."),
    p("enable_mergejoin", Bool, "on", ON_OFF, None, DYNAMIC, "Let the planner use merge joins."),
    p("enable_nestloop", Bool, "on", ON_OFF, None, DYNAMIC, "Let the planner use nested-loop joins."),
    p("enable_seqscan", Bool, "on", ON_OFF, None, DYNAMIC, "Let the planner use sequential scans."),
    p("enable_sort", Bool, "on", ON_OFF, None, DYNAMIC, "Let the planner use explicit sorts."),
    p("enable_tidscan", Bool, "on", ON_OFF, None, DYNAMIC, "Let the planner use TID scans."),
    p("geqo", Bool, "on", ON_OFF, None, DYNAMIC, "Use the genetic query optimizer for large joins."),
    p("geqo_effort", Int, "5", "1-10", None, DYNAMIC, "Effort the genetic optimizer spends."),
    p("geqo_generations", Int, "0", INT_RANGE, None, DYNAMIC, "Iterations of the genetic optimizer (0: automatic)."),
    p("geqo_pool_size", Int, "0", INT_RANGE, None, DYNAMIC, "Population of the genetic optimizer (0: automatic)."),
    p("geqo_seed", Real, "0.0", "0-1", None, DYNAMIC, "Seed of the genetic optimizer's random path choice."),
    p("geqo_selection_bias", Real, "2.0", "1.5-2", None, DYNAMIC, "Selective pressure of the genetic optimizer."),
    p("geqo_threshold", Int, "12", "2-2147483647", None, DYNAMIC, "FROM items from which the genetic optimizer is used."),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(service: Service, name: &str) -> &'static ParameterSpec {
        parameter(service, name).unwrap_or_else(|| panic!("{name} missing"))
    }

    #[test]
    fn lookups_ignore_case() {
        assert_eq!(spec(Service::Flexible, "WORK_MEM").name, "work_mem");
        assert_eq!(spec(Service::Flexible, "datestyle").name, "DateStyle");
        assert_eq!(spec(Service::Single, "Azure.Replication_Support").name, "azure.replication_support");
        assert!(parameter(Service::Flexible, "no_such_parameter").is_none());
        assert!(parameter(Service::Single, "azure.extensions").is_none());
    }

    #[test]
    fn names_are_unique_per_service() {
        for service in [Service::Single, Service::Flexible] {
            let mut names: Vec<String> =
                parameters(service).iter().map(|spec| spec.name.to_ascii_lowercase()).collect();
            let count = names.len();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), count, "{service:?} has a duplicate");
        }
    }

    #[test]
    fn every_default_passes_its_own_check() {
        for service in [Service::Single, Service::Flexible] {
            for spec in parameters(service) {
                assert_eq!(value_problem(spec, spec.default), None, "{service:?} {}", spec.name);
                assert!(!spec.description.is_empty(), "{}", spec.name);
            }
        }
        for sku in ["Standard_B1ms", "Standard_D2ds_v5", "Standard_E96ds_v5"] {
            for spec in parameters(Service::Flexible) {
                let value = default_value(Service::Flexible, spec.name, Some(sku)).unwrap();
                assert_eq!(value_problem(spec, &value), None, "{sku} {}", spec.name);
            }
        }
    }

    #[test]
    fn integers_are_checked_against_their_ranges_and_units() {
        let work_mem = spec(Service::Flexible, "work_mem");
        assert_eq!(normalized_value(work_mem, "16MB").as_deref(), Some("16384"));
        assert_eq!(normalized_value(work_mem, " 8192 ").as_deref(), Some("8192"));
        let message = value_problem(work_mem, "1024").unwrap();
        assert!(message.contains("4096-2097151") && message.contains("kB"), "{message}");
        assert!(value_problem(work_mem, "lots").is_some());
        let message = value_problem(work_mem, "30s").unwrap();
        assert!(message.contains("such as 64MB"), "a time is not a size: {message}");
        let message = value_problem(work_mem, "4097B").unwrap();
        assert!(message.contains("whole number of kB"), "{message}");
        let timeout = spec(Service::Flexible, "statement_timeout");
        assert_eq!(normalized_value(timeout, "30s").as_deref(), Some("30000"));
        assert_eq!(normalized_value(timeout, "5min").as_deref(), Some("300000"));
        let shared_buffers = spec(Service::Flexible, "shared_buffers");
        assert_eq!(normalized_value(shared_buffers, "2GB").as_deref(), Some("262144"));
        // Negative bounds.
        let cost_limit = spec(Service::Flexible, "autovacuum_vacuum_cost_limit");
        assert_eq!(value_problem(cost_limit, "-1"), None);
        assert!(value_problem(cost_limit, "-2").unwrap().contains("-1-10000"));
        assert_eq!(value_problem(spec(Service::Single, "extra_float_digits"), "-15"), None);
        assert!(value_problem(spec(Service::Single, "extra_float_digits"), "4").is_some());
        // No unit: a suffix is refused.
        assert!(value_problem(spec(Service::Flexible, "max_connections"), "100MB").is_some());
        assert!(value_problem(spec(Service::Flexible, "max_connections"), "6000").is_some());
    }

    #[test]
    fn reals_are_checked_against_their_ranges() {
        let random_page_cost = spec(Service::Flexible, "random_page_cost");
        assert_eq!(value_problem(random_page_cost, "1.1"), None);
        assert_eq!(value_problem(random_page_cost, "1e3"), None);
        assert!(value_problem(random_page_cost, "-1").is_some());
        assert!(value_problem(random_page_cost, "NaN").is_some());
        let target = spec(Service::Flexible, "checkpoint_completion_target");
        assert!(value_problem(target, "1.5").unwrap().contains("0-1"));
        assert_eq!(value_problem(spec(Service::Single, "geqo_selection_bias"), "1.75"), None);
    }

    #[test]
    fn booleans_and_enumerations_take_their_listed_values() {
        let autovacuum = spec(Service::Flexible, "autovacuum");
        assert_eq!(normalized_value(autovacuum, "OFF").as_deref(), Some("off"));
        let message = value_problem(autovacuum, "yes").unwrap();
        assert!(message.contains("on or off"), "{message}");
        assert!(value_problem(autovacuum, "true").is_some(), "ARM takes on/off");
        assert_eq!(value_problem(spec(Service::Flexible, "pgbouncer.enabled"), "true"), None);
        let tls = spec(Service::Flexible, "ssl_min_protocol_version");
        assert_eq!(normalized_value(tls, "tlsv1.3").as_deref(), Some("TLSv1.3"));
        let message = value_problem(tls, "TLSv1.1").unwrap();
        assert!(message.contains("'TLSv1.2', 'TLSv1.3'"), "{message}");
        assert_eq!(value_problem(spec(Service::Flexible, "ssl_max_protocol_version"), ""), None);
        let isolation = spec(Service::Flexible, "default_transaction_isolation");
        assert_eq!(value_problem(isolation, "Repeatable Read"), None);
    }

    #[test]
    fn sets_take_lists_of_their_values() {
        let preload = spec(Service::Flexible, "shared_preload_libraries");
        assert_eq!(normalized_value(preload, "pg_cron, PGAUDIT").as_deref(), Some("pg_cron,pgaudit"));
        assert_eq!(value_problem(preload, ""), None);
        let message = value_problem(preload, "pg_cron,pg_crom").unwrap();
        assert!(message.contains("'pg_crom'") && message.contains("pg_cron"), "{message}");
    }

    #[test]
    fn misspelt_names_get_a_suggestion() {
        assert_eq!(parameter_suggestion(Service::Flexible, "work_memm"), Some("work_mem"));
        assert_eq!(
            parameter_suggestion(Service::Single, "log_min_duration"),
            Some("log_min_duration_statement")
        );
        assert_eq!(parameter_suggestion(Service::Flexible, "zzz"), None);
        assert_eq!(parameter_suggestion(Service::Flexible, "work_mem"), None);
    }

    #[test]
    fn flexible_defaults_follow_the_sku() {
        for name in ["Standard_D2ds_v5", "Standard_E8ds_v5", "Standard_B1ms"] {
            let sku = flexible_sku(name).unwrap();
            assert_eq!(
                default_value(Service::Flexible, "max_connections", Some(name)),
                Some(sku.default_max_connections.to_string()),
                "{name}"
            );
        }
        assert_ne!(
            default_value(Service::Flexible, "max_connections", Some("Standard_D2ds_v5")),
            default_value(Service::Flexible, "max_connections", Some("Standard_E8ds_v5"))
        );
        // The table holds the 2-vCore General Purpose values.
        for name in [
            "max_connections",
            "shared_buffers",
            "effective_cache_size",
            "maintenance_work_mem",
            "wal_buffers",
        ] {
            assert_eq!(
                default_value(Service::Flexible, name, Some("Standard_D2ds_v5")).as_deref(),
                Some(spec(Service::Flexible, name).default),
                "{name}"
            );
        }
        // A 4-vCore, 16 GiB server as Azure reported it.
        for (name, reported) in [
            ("max_connections", "1718"),
            ("shared_buffers", "524288"),
            ("effective_cache_size", "1572864"),
            ("maintenance_work_mem", "274432"),
            ("wal_buffers", "2048"),
        ] {
            assert_eq!(
                default_value(Service::Flexible, name, Some("Standard_D4ads_v5")).as_deref(),
                Some(reported)
            );
        }
        assert_eq!(
            default_value(Service::Flexible, "shared_buffers", Some("Standard_B1ms")).as_deref(),
            Some("32768")
        );
        assert_eq!(
            default_value(Service::Flexible, "wal_buffers", Some("Standard_D8ds_v5")).as_deref(),
            Some("16384")
        );
        assert_eq!(
            default_value(Service::Flexible, "work_mem", Some("Standard_D8ds_v5")).as_deref(),
            Some("4096")
        );
        assert_eq!(default_value(Service::Flexible, "MAX_CONNECTIONS", None).as_deref(), Some("859"));
        assert_eq!(
            default_value(Service::Flexible, "max_connections", Some("Standard_Unknown")).as_deref(),
            Some("859")
        );
        assert_eq!(default_value(Service::Flexible, "no_such_parameter", None), None);
    }

    #[test]
    fn single_defaults_follow_the_sku() {
        assert_eq!(
            default_value(Service::Single, "max_connections", Some("GP_Gen5_8")).as_deref(),
            Some("480")
        );
        let support = ReplicationSupport::PARAMETER;
        assert_eq!(default_value(Service::Single, support, Some("GP_Gen5_2")).as_deref(), Some("REPLICA"));
        assert_eq!(default_value(Service::Single, support, Some("B_Gen5_1")).as_deref(), Some("OFF"));
    }

    #[test]
    fn single_server_replication_support_is_static_and_settable() {
        let support = spec(Service::Single, ReplicationSupport::PARAMETER);
        assert!(support.is_static && !support.read_only);
        assert_eq!(support.data_type, ParameterType::Enumeration);
        assert_eq!(support.allowed, "OFF,REPLICA,LOGICAL");
        for value in [ReplicationSupport::Off, ReplicationSupport::Replica, ReplicationSupport::Logical] {
            assert_eq!(value_problem(support, value.as_str()), None);
        }
        assert!(spec(Service::Single, "max_connections").read_only);
    }

    #[test]
    fn replica_floor_parameters_are_static_flexible_parameters() {
        for name in REPLICA_FLOOR_PARAMETERS {
            let spec = spec(Service::Flexible, name);
            assert!(spec.is_static && !spec.read_only, "{name}");
            assert_eq!(spec.data_type, ParameterType::Integer, "{name}");
        }
    }

    #[test]
    fn arm_spells_the_types() {
        assert_eq!(ParameterType::Real.arm_name(), "Numeric");
        assert_eq!(spec(Service::Flexible, "azure.extensions").data_type.arm_name(), "Set");
        assert_eq!(spec(Service::Flexible, "work_mem").data_type.arm_name(), "Integer");
    }
}
