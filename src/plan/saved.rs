//! Saved plan files (`plan --out`): the plan with what it was based on, written atomically,
//! read back with its format version and digest checked, and refused once its inputs moved.
//!
//! A plan file holds the plan, its id, and the observed attributes of every live server it
//! read (specs and replication support: never a secret, never an endpoint), so that a stale
//! plan can say what changed. This module writes and reads only the plan file it is given.

use super::model::Plan;
use crate::config::DesiredFleet;
use crate::diff::{display_value, spec_fields};
use crate::model::{LiveFleet, ObservedServer, ServerName, ServerSpec};
use crate::rules::ReplicationSupport;
use crate::state::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The plan file format this build writes; a file with another version is refused (a newer
/// one needs a newer pgfleet; an older one is planned again, which a saved plan is for: it is
/// short-lived and refuses to apply once stale anyway). 2: a migration names its staging server.
pub(crate) const SAVED_PLAN_FORMAT_VERSION: u64 = 2;

/// What a plan file says it is, so another JSON file is not taken for a plan.
const SAVED_PLAN_KIND: &str = "pgfleet-plan";

/// A plan file's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    /// Always `pgfleet-plan`.
    pub kind: String,
    pub format_version: u64,
    /// [`plan_id`] of `plan`, checked on load.
    pub plan_id: String,
    pub plan: Plan,
    /// The live servers the plan read, as fingerprinted in `plan.inputs.live_fingerprints`.
    pub observed: BTreeMap<ServerName, ObservedAttributes>,
}

/// What of a live server a plan depends on: enough to fingerprint it and to say what changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedAttributes {
    pub provider_id: String,
    pub spec: ServerSpec,
    pub replication_support: ReplicationSupport,
}

impl ObservedAttributes {
    pub fn of(server: &ObservedServer) -> ObservedAttributes {
        ObservedAttributes {
            provider_id: server.provider_id.clone(),
            spec: server.spec.clone(),
            replication_support: server.replication_support,
        }
    }

    fn fields(&self) -> BTreeMap<String, Value> {
        let mut fields = spec_fields(&self.spec);
        fields.insert("provider_id".into(), Value::String(self.provider_id.clone()));
        fields.insert("replication_support".into(), Value::String(self.replication_support.as_str().into()));
        fields
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The hex sha256 of what a plan depends on of a live server.
pub fn fingerprint(server: &ObservedServer) -> String {
    /// The fields of [`ObservedAttributes`], borrowed: fingerprinting copies nothing.
    #[derive(Serialize)]
    struct View<'a> {
        provider_id: &'a str,
        spec: &'a ServerSpec,
        replication_support: ReplicationSupport,
    }
    let view = View {
        provider_id: &server.provider_id,
        spec: &server.spec,
        replication_support: server.replication_support,
    };
    sha256_hex(&serde_json::to_vec(&view).unwrap_or_default())
}

/// The plan's id, `sha256:HEX`: the digest of its canonical JSON (inputs included, the
/// creation time left out so the same inputs give the same id). Renderers and approvals cite it.
pub fn plan_id(plan: &Plan) -> String {
    // The compact JSON, written straight from the plan into the digest, without
    // `inputs.created_at`: `inputs` is the plan's last field and `created_at` its only member of
    // that name, and a string value cannot hold `,"created_at":"` unescaped, so its last
    // occurrence is the member. Only `inputs.tool_version` follows it, so it is in the last bytes,
    // which the digest takes last.
    let mut digest = TailHeld { digest: Sha256::new(), tail: Vec::with_capacity(2 * HELD_TAIL) };
    serde_json::to_writer(&mut digest, plan).expect("a plan always serialises: its maps have string keys");
    let mut tail = digest.tail;
    const MEMBER: &[u8] = b",\"created_at\":\"";
    if let Some(start) = tail.windows(MEMBER.len()).rposition(|window| window == MEMBER) {
        let value = start + MEMBER.len();
        if let Some(close) = tail[value..].iter().position(|&byte| byte == b'"') {
            tail.drain(start..value + close + 1);
        }
    }
    let mut digest = digest.digest;
    digest.update(&tail);
    format!("sha256:{}", hex::encode(digest.finalize()))
}

/// How many of the last bytes [`TailHeld`] keeps back.
const HELD_TAIL: usize = 4096;

/// A digest that takes every byte written but the last `HELD_TAIL` or more, held in `tail`.
struct TailHeld {
    digest: Sha256,
    tail: Vec<u8>,
}

impl Write for TailHeld {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.tail.extend_from_slice(bytes);
        if self.tail.len() > 2 * HELD_TAIL {
            let done = self.tail.len() - HELD_TAIL;
            self.digest.update(&self.tail[..done]);
            self.tail.drain(..done);
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Why a plan file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error("cannot write the plan file {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read the plan file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the plan file {} is corrupt: {reason}", path.display())]
    Corrupt { path: PathBuf, reason: String },
    #[error(
        "the plan file {} has format version {found}, newer than this pgfleet reads ({supported}); use a newer pgfleet",
        path.display()
    )]
    NewerFormat { path: PathBuf, found: u64, supported: u64 },
    #[error(
        "the plan file {} has format version {found}, written by an older pgfleet; this pgfleet writes {supported}: run `pgfleet plan --out` again and apply the new file",
        path.display()
    )]
    OlderFormat { path: PathBuf, found: u64, supported: u64 },
    #[error("the live snapshot given for {server} is not the one the plan was made from")]
    SnapshotMismatch { server: ServerName },
}

/// Writes the plan and the live servers it read to `path`, atomically (a temporary file in
/// the same directory, synced, then renamed over `path`).
///
/// # Errors
/// `SnapshotMismatch` when `snapshot` is not the live fleet the plan fingerprinted; `Write`
/// when the file cannot be written.
/// Returns the plan's id, so that a caller printing the plan does not compute it again.
pub fn save(plan: &Plan, snapshot: &LiveFleet, path: &Path) -> Result<String, SavedPlanError> {
    let mut observed = BTreeMap::new();
    for (name, recorded) in &plan.inputs.live_fingerprints {
        let server = snapshot
            .get(name)
            .filter(|server| &fingerprint(server) == recorded)
            .ok_or_else(|| SavedPlanError::SnapshotMismatch { server: name.clone() })?;
        observed.insert(name.clone(), ObservedAttributes::of(server));
    }
    /// [`SavedPlan`] as written: the plan borrowed, not copied.
    #[derive(Serialize)]
    struct Writing<'a> {
        kind: &'a str,
        format_version: u64,
        plan_id: &'a str,
        plan: &'a Plan,
        observed: &'a BTreeMap<ServerName, ObservedAttributes>,
    }
    let id = plan_id(plan);
    let saved = Writing {
        kind: SAVED_PLAN_KIND,
        format_version: SAVED_PLAN_FORMAT_VERSION,
        plan_id: &id,
        plan,
        observed: &observed,
    };
    let write_error = |source| SavedPlanError::Write { path: path.to_path_buf(), source };
    // Compact, and serialised straight into the file: a plan file is read by pgfleet (`show`
    // prints it for people).
    write_atomically(path, |file| {
        serde_json::to_writer(&mut *file, &saved).map_err(io::Error::from)?;
        file.write_all(b"\n")
    })
    .map_err(write_error)?;
    Ok(id)
}

/// Writes a file through `write` into a temporary beside it, synced, then renamed over `path`.
fn write_atomically(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let directory = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let temporary =
        directory.join(format!(".{}.{}.tmp", file_name.to_string_lossy(), uuid::Uuid::new_v4().simple()));
    let result = (|| {
        let mut file = io::BufWriter::with_capacity(64 * 1024, std::fs::File::create_new(&temporary)?);
        write(&mut file)?;
        let file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        #[cfg(unix)]
        std::fs::File::open(directory)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// Reads a plan file, checking its kind, format version and plan id.
///
/// # Errors
/// `Read` when the file cannot be read; `NewerFormat` when a newer pgfleet wrote it,
/// `OlderFormat` when an older one did (plan again); `Corrupt`
/// when it is not a plan file, does not parse, or its content does not match its plan id.
pub fn load(path: &Path) -> Result<SavedPlan, SavedPlanError> {
    let bytes =
        std::fs::read(path).map_err(|source| SavedPlanError::Read { path: path.to_path_buf(), source })?;
    let corrupt = |reason: String| SavedPlanError::Corrupt { path: path.to_path_buf(), reason };
    let value: Value =
        serde_json::from_slice(&bytes).map_err(|error| corrupt(format!("not JSON ({error})")))?;
    if value.get("kind").and_then(Value::as_str) != Some(SAVED_PLAN_KIND) {
        return Err(corrupt("it is not a pgfleet plan file".into()));
    }
    let found = value
        .get("format_version")
        .and_then(Value::as_u64)
        .ok_or_else(|| corrupt("it has no format_version".into()))?;
    if found > SAVED_PLAN_FORMAT_VERSION {
        return Err(SavedPlanError::NewerFormat {
            path: path.to_path_buf(),
            found,
            supported: SAVED_PLAN_FORMAT_VERSION,
        });
    }
    if found < SAVED_PLAN_FORMAT_VERSION {
        return Err(SavedPlanError::OlderFormat {
            path: path.to_path_buf(),
            found,
            supported: SAVED_PLAN_FORMAT_VERSION,
        });
    }
    let saved: SavedPlan = serde_json::from_value(value).map_err(|error| corrupt(error.to_string()))?;
    if plan_id(&saved.plan) != saved.plan_id {
        return Err(corrupt("its content does not match its plan_id (was it edited?)".into()));
    }
    Ok(saved)
}

/// What a saved plan is checked against when it is applied.
#[derive(Debug, Clone)]
pub(crate) struct CurrentInputs<'a> {
    /// sha256 of each fleet file, by path as given.
    pub config_files: BTreeMap<String, String>,
    pub state_lineage: Option<String>,
    pub state_serial: Option<u64>,
    /// The live fleet now (or the state's record of it without a refresh).
    pub live: &'a LiveFleet,
}

impl<'a> CurrentInputs<'a> {
    /// The current inputs from the fleet, the state and the live servers.
    pub fn new(desired: &DesiredFleet, stored: Option<&State>, live: &'a LiveFleet) -> CurrentInputs<'a> {
        CurrentInputs {
            config_files: BTreeMap::from([(
                desired.source.path.display().to_string(),
                desired.source.sha256.clone(),
            )]),
            state_lineage: stored.map(|state| state.lineage.to_string()),
            state_serial: stored.map(|state| state.serial),
            live,
        }
    }
}

/// Why a saved plan may not be applied: everything that moved since it was made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) struct Stale {
    pub reasons: Vec<StaleReason>,
}

impl fmt::Display for Stale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reasons: Vec<String> = self.reasons.iter().map(ToString::to_string).collect();
        write!(f, "plan is stale: {}; run plan again", reasons.join("; "))
    }
}

/// One input that moved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum StaleReason {
    #[error("the fleet file changed ({path})")]
    ConfigChanged { path: String },
    #[error("the state was replaced (lineage {} → {})", show(.from), show(.to))]
    StateReplaced { from: Option<String>, to: Option<String> },
    #[error("the state changed (serial {} → {})", show(.from), show(.to))]
    StateChanged { from: Option<u64>, to: Option<u64> },
    #[error("{server} changed since the plan was made ({details})")]
    ServerChanged { server: ServerName, details: String },
    #[error("{server} is gone since the plan was made")]
    ServerGone { server: ServerName },
    #[error("{server} appeared since the plan was made")]
    ServerAppeared { server: ServerName },
}

fn show<T: fmt::Display>(value: &Option<T>) -> String {
    value.as_ref().map_or_else(|| "none".to_string(), ToString::to_string)
}

/// Checks that nothing a saved plan rests on has moved.
///
/// # Errors
/// `Stale`, listing every input that changed: fleet files, the state's lineage or serial, and
/// each live server that changed, appeared or disappeared.
pub(crate) fn check_fresh(saved: &SavedPlan, current: &CurrentInputs) -> Result<(), Stale> {
    let inputs = &saved.plan.inputs;
    let mut reasons = Vec::new();
    let paths: BTreeSet<&String> = inputs.config_files.keys().chain(current.config_files.keys()).collect();
    for path in paths {
        if inputs.config_files.get(path) != current.config_files.get(path) {
            reasons.push(StaleReason::ConfigChanged { path: path.clone() });
        }
    }
    if inputs.state_lineage != current.state_lineage {
        reasons.push(StaleReason::StateReplaced {
            from: inputs.state_lineage.clone(),
            to: current.state_lineage.clone(),
        });
    } else if inputs.state_serial != current.state_serial {
        reasons.push(StaleReason::StateChanged { from: inputs.state_serial, to: current.state_serial });
    }
    let servers: BTreeSet<&ServerName> = inputs.live_fingerprints.keys().chain(current.live.keys()).collect();
    for server in servers {
        match (inputs.live_fingerprints.get(server), current.live.get(server)) {
            (Some(recorded), Some(now)) if &fingerprint(now) != recorded => {
                let details = saved
                    .observed
                    .get(server)
                    .map(|before| describe_changes(before, &ObservedAttributes::of(now)))
                    .unwrap_or_else(|| "its attributes differ".to_string());
                reasons.push(StaleReason::ServerChanged { server: server.clone(), details });
            }
            (Some(_), None) => reasons.push(StaleReason::ServerGone { server: server.clone() }),
            (None, Some(_)) => reasons.push(StaleReason::ServerAppeared { server: server.clone() }),
            _ => {}
        }
    }
    if reasons.is_empty() { Ok(()) } else { Err(Stale { reasons }) }
}

/// `vcores 4 → 8, tier GeneralPurpose → MemoryOptimized`.
fn describe_changes(before: &ObservedAttributes, after: &ObservedAttributes) -> String {
    let before = before.fields();
    let after = after.fields();
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let changes: Vec<String> = keys
        .into_iter()
        .filter_map(|key| {
            let old = before.get(key).unwrap_or(&Value::Null);
            let new = after.get(key).unwrap_or(&Value::Null);
            (old != new).then(|| format!("{key} {} → {}", display_value(old), display_value(new)))
        })
        .collect();
    changes.join(", ")
}
