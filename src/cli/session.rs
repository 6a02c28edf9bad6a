//! What most commands share: loading the fleet file (rendering its diagnostics), opening the
//! state under its lock, and building the provider of the fleet's kind.

use super::{GlobalArgs, Printer};
use crate::config::{self, DesiredFleet, ProviderSettings};
use crate::exec::{RetryNotice, RetryObserver, RetryPolicy, RetryingProvider};
use crate::model::{LiveFleet, ServerName};
use crate::providers::Provider;
use crate::providers::azure::{AzureProvider, AzureProviderOptions};
use crate::providers::local::{LocalProvider, LocalProviderOptions, ProviderEvent};
use crate::secret::Redacted;
use crate::state::{self, LockWait, LockedState};
use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Loads and validates the fleet file. Problems are rendered (and, on GitHub Actions, also
/// printed as annotations) before the error returns.
pub(crate) fn load_fleet(global: &GlobalArgs, printer: &Printer) -> anyhow::Result<DesiredFleet> {
    Ok(load_timetabled_fleet(global, printer)?.at(chrono::Utc::now()))
}

/// The fleet file's fleet with its servers' base values (timetables not applied; see
/// `DesiredFleet::at`).
pub(crate) fn load_timetabled_fleet(global: &GlobalArgs, printer: &Printer) -> anyhow::Result<DesiredFleet> {
    match check_fleet(global, printer)? {
        Ok(fleet) => Ok(fleet),
        Err(errors) => bail!(
            "{} is not valid: {}; `pgfleet validate` shows them alone",
            global.config.display(),
            super::progress::count(errors, "error")
        ),
    }
}

/// Reads and validates the fleet file, printing its warnings and errors (and, on GitHub
/// Actions, their annotations). `Err(n)` inside: the file has `n` errors, already printed.
///
/// # Errors
/// When the file cannot be read.
pub(crate) fn check_fleet(
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<Result<DesiredFleet, usize>> {
    let path = &global.config;
    let bytes = std::fs::read(path).with_context(|| {
        format!(
            "cannot read the fleet file {}\nhint: create it, or name another with -c FILE",
            path.display()
        )
    })?;
    let (result, shown) = match config::parse(path, &bytes) {
        Ok((fleet, warnings)) => (Ok(fleet), config::Diagnostics(warnings)),
        Err(diagnostics) => (Err(diagnostics.errors().count()), diagnostics),
    };
    if !shown.is_empty() {
        let source = config::shown_source(&bytes);
        printer.stderr_raw(&shown.render(&source, printer.stderr_color()));
        super::github::annotate(&shown.0, printer);
    }
    Ok(result)
}

/// Opens the fleet's state under its exclusive lock (held until the value drops), waiting for it
/// up to `--lock-timeout`, printing first every migration an earlier apply left unfinished, then
/// what the store noticed on the way (a lock taken over from a dead process, a torn journal line).
pub(crate) fn open_state(
    global: &GlobalArgs,
    fleet: &DesiredFleet,
    command: &str,
    printer: &Printer,
) -> anyhow::Result<LockedState> {
    let backend = super::state_backend::open_backend(global, fleet)?;
    let waiting = waiting_message(backend.describe().to_string(), global.lock_timeout, printer);
    let wait = LockWait { timeout: global.lock_timeout, waiting: Some(&waiting) };
    let locked = state::StateStore::open_in(backend, &fleet.name, command, wait)?;
    warn_unfinished_migrations(locked.state(), printer);
    for note in locked.notes() {
        printer.warn(note);
    }
    Ok(locked)
}

/// Writes `state` at the end of a command; when the backend refuses it, the state goes to
/// `errored.state.json` and the error says how to push it.
pub(crate) fn save(locked: &mut LockedState, state: crate::state::State) -> anyhow::Result<()> {
    match locked.write(state) {
        Ok(()) => Ok(()),
        Err(error) => Err(super::state_backend::errored(locked, error)),
    }
}

/// Says, for each migration the state records as unfinished, whether the source's writes are
/// frozen and what finishes or abandons it: the first thing any command says.
pub(crate) fn warn_unfinished_migrations(state: &crate::state::State, printer: &Printer) {
    for (server, record) in &state.migrations {
        printer.warn(&record.headline(server));
    }
}

/// What a command says when it finds the lock of `state` (as the backend names it) held and
/// waits for it.
pub(crate) fn waiting_message(
    state: String,
    timeout: std::time::Duration,
    printer: &Printer,
) -> impl Fn(Option<&state::LockHolder>) + '_ {
    move |holder| {
        let holder = holder.map_or_else(|| "another process".to_string(), ToString::to_string);
        printer.info(&format!(
            "waiting up to {} for the lock of the state {state}, held by {holder}",
            humantime::format_duration(timeout),
        ));
    }
}

/// Once a plan is made: an unfinished migration the plan does not finish (the fleet file no
/// longer asks for it) says what to do instead of the opening line's `pgfleet apply`.
pub(crate) fn warn_unplanned_migrations(plan: &crate::plan::Plan, printer: &Printer) {
    for migration in plan.unfinished_migrations.iter().filter(|migration| migration.finish_command.is_none())
    {
        printer.warn(&migration.message);
    }
}

/// Where a command reports the retries of its provider calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryReport {
    /// A `debug:` line on stderr each, shown with `-v`.
    Verbose,
    /// A `retry` event each on stdout, with the command's other JSON events (`apply --json`,
    /// `destroy --json`).
    Json,
}

impl RetryReport {
    /// JSON events when the command prints JSON events, else `-v` lines.
    pub(crate) fn for_json(json: bool) -> RetryReport {
        if json { RetryReport::Json } else { RetryReport::Verbose }
    }
}

/// Builds the provider of the fleet's kind, wrapped once in the retrying layer, so every call
/// the command makes (its first refresh included) is retried under one policy
/// ([`RetryPolicy::from_environment`]) and each retry is reported as `report` says. Providers
/// get no secrets: the executor hands each create the password it needs, and migrations
/// connect with theirs. Azure credentials come from the environment (service principal, then
/// the Azure CLI, then managed identity).
pub(crate) fn build_provider(
    fleet: &DesiredFleet,
    report: RetryReport,
    printer: &Printer,
) -> anyhow::Result<Arc<dyn Provider>> {
    build_provider_with_events(fleet, None, report, printer)
}

/// [`build_provider`] for `pgfleet import`: it also reads what `carried` servers carry
/// (parameters, firewall rules, databases), which the fleet file does not declare yet.
pub(crate) fn build_import_provider(
    fleet: &DesiredFleet,
    carried: std::collections::BTreeSet<ServerName>,
    printer: &Printer,
) -> anyhow::Result<Arc<dyn Provider>> {
    let policy = RetryPolicy::from_environment().map_err(anyhow::Error::msg)?;
    let printer = printer.clone();
    let observer: RetryObserver = Arc::new(move |notice: &RetryNotice<'_>| printer.debug(&notice.describe()));
    let inner = build_backend(fleet, None, carried)?;
    Ok(Arc::new(RetryingProvider::new(inner, policy).observed(observer)))
}

/// [`build_provider`], with the local provider's measurements (restart windows, storage
/// used, replica lag) sent to `events`.
pub(crate) fn build_provider_with_events(
    fleet: &DesiredFleet,
    events: Option<tokio::sync::mpsc::UnboundedSender<ProviderEvent>>,
    report: RetryReport,
    printer: &Printer,
) -> anyhow::Result<Arc<dyn Provider>> {
    let policy = RetryPolicy::from_environment().map_err(anyhow::Error::msg)?;
    let printer = printer.clone();
    let observer: RetryObserver = Arc::new(move |notice: &RetryNotice<'_>| match report {
        RetryReport::Verbose => printer.debug(&notice.describe()),
        RetryReport::Json => printer.data(&crate::exec::Event::now(notice.to_event()).to_json_line()),
    });
    let inner = build_backend(fleet, events, std::collections::BTreeSet::new())?;
    Ok(Arc::new(RetryingProvider::new(inner, policy).observed(observer)))
}

/// The bare provider of the fleet's kind (no retries). The azure provider reads what the
/// servers the file declares them for carry, and what `also_carried` carry.
fn build_backend(
    fleet: &DesiredFleet,
    events: Option<tokio::sync::mpsc::UnboundedSender<ProviderEvent>>,
    also_carried: std::collections::BTreeSet<ServerName>,
) -> anyhow::Result<Arc<dyn Provider>> {
    Ok(match &fleet.provider {
        ProviderSettings::Local(settings) => {
            let options =
                LocalProviderOptions { events, ..LocalProviderOptions::from_settings(settings, &fleet.name) };
            Arc::new(LocalProvider::new(options)?)
        }
        ProviderSettings::Azure(settings) => {
            let mut options =
                AzureProviderOptions::new(settings.clone(), fleet.name.clone(), BTreeMap::new());
            options.read_carried = fleet
                .servers
                .values()
                .filter(|server| {
                    let spec = &server.spec;
                    !(spec.parameters.is_empty()
                        && spec.firewall_rules.is_empty()
                        && spec.databases.is_empty())
                })
                .map(|server| server.name.clone())
                .chain(also_carried)
                .collect();
            Arc::new(AzureProvider::new(options)?)
        }
    })
}

/// The admin passwords a plan needs: of servers it creates as primaries and of servers it
/// migrates (the new server gets the old one's password). Nothing else is read.
fn resolve_passwords(
    fleet: &DesiredFleet,
    plan: &crate::plan::Plan,
) -> anyhow::Result<BTreeMap<ServerName, Redacted<String>>> {
    use crate::plan::Operation;
    let needed: std::collections::BTreeSet<&ServerName> = plan
        .changes
        .iter()
        .filter(|change| match &change.operation {
            Operation::Create { spec } => spec.replica_of.is_none(),
            Operation::Migrate { .. } => true,
            _ => false,
        })
        .map(|change| &change.server)
        .collect();
    let mut passwords = BTreeMap::new();
    for name in fleet.servers.keys().filter(|name| needed.contains(name)) {
        if let Some(password) = resolve_password(fleet, name)? {
            passwords.insert(name.clone(), password);
        }
    }
    Ok(passwords)
}

/// The admin password of a server of the fleet file (`None` when the file has no such server).
///
/// # Errors
/// When the password's reference (a file, a variable) cannot be read.
pub(crate) fn resolve_password(
    fleet: &DesiredFleet,
    name: &ServerName,
) -> anyhow::Result<Option<Redacted<String>>> {
    let Some(server) = fleet.servers.get(name) else { return Ok(None) };
    let password = server
        .admin_password
        .resolve(&super::state_backend::fleet_dir(&fleet.source.path))
        .with_context(|| format!("could not read the admin password of servers.{name}"))?;
    Ok(Some(password))
}

/// The servers `--target` names (each a name, `pay-main`, or an address, `servers.pay-main`),
/// every one known to the fleet file or the state.
///
/// # Errors
/// When one names no such server (with the nearest name as a hint).
pub(crate) fn targets(
    named: &[String],
    fleet: &DesiredFleet,
    state: Option<&crate::state::State>,
) -> anyhow::Result<std::collections::BTreeSet<ServerName>> {
    let known: std::collections::BTreeSet<&ServerName> =
        fleet.servers.keys().chain(state.into_iter().flat_map(|state| state.servers.keys())).collect();
    named
        .iter()
        .map(|argument| {
            let name = crate::model::Address::server_named(argument);
            if known.contains(&name) {
                return Ok(name);
            }
            let hint = known
                .iter()
                .map(|candidate| (strsim::jaro_winkler(candidate.as_str(), name.as_str()), candidate))
                .filter(|(score, _)| *score > 0.8)
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .map_or_else(
                    || {
                        "`pgfleet state list` and the fleet file's [servers.NAME] tables name them"
                            .to_string()
                    },
                    |(_, candidate)| format!("did you mean servers.{candidate}?"),
                );
            bail!(
                "--target {argument}: neither the fleet file nor the state has a server {name}\nhint: {hint}"
            )
        })
        .collect()
}

/// The plan limited to `targets` (none: the whole plan), with Terraform's warning on stderr.
pub(crate) fn narrow(
    plan: crate::plan::Plan,
    targets: &std::collections::BTreeSet<ServerName>,
    printer: &Printer,
) -> crate::plan::Plan {
    if targets.is_empty() {
        return plan;
    }
    let named: Vec<String> = targets.iter().map(|server| server.address().to_string()).collect();
    printer.warn(&format!(
        "targeting is in effect: this plan covers only {} and the changes theirs depend on",
        named.join(", ")
    ));
    crate::plan::target(plan, targets)
}

/// Reads the live servers of the fleet (through the retrying provider, like every call).
pub(crate) async fn refresh(provider: &dyn Provider) -> anyhow::Result<LiveFleet> {
    provider
        .refresh()
        .await
        .with_context(|| format!("could not read the live servers ({} provider)", provider.kind()))
}

/// The async runtime commands use to talk to providers.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")
}

/// Finishes what an interrupted apply left: when the state lists steps in flight, says so,
/// refreshes, and records what really exists before anything is planned.
pub(crate) async fn recover_interrupted(
    locked: &mut LockedState,
    provider: &dyn Provider,
    printer: &Printer,
) -> anyhow::Result<()> {
    if locked.interrupted().is_empty() {
        return Ok(());
    }
    let live = refresh(provider).await?;
    let (recovered, messages) = crate::exec::reconcile_interrupted(locked.state(), &live);
    for message in messages {
        printer.warn(&message);
    }
    save(locked, recovered).context("could not save the recovered state")
}

/// After an apply, where clients connect to each server it created or changed, as recorded;
/// a server a migration moved says where it was.
fn report_endpoints(plan: &crate::plan::Plan, state: &crate::state::State, printer: &Printer) {
    if let Some(text) = endpoints_text(plan, state) {
        printer.info(&text);
    }
}

/// "Where clients connect:" and a line per changed server the state records (`None` when there
/// is none); "(moved; was …)" only where the recorded endpoint is another than before.
fn endpoints_text(plan: &crate::plan::Plan, state: &crate::state::State) -> Option<String> {
    // Each changed server once, in name order, with where a migration moved it from.
    let mut changed: BTreeMap<&ServerName, Option<&str>> = BTreeMap::new();
    for change in plan.changes.iter().filter(|change| change.action != crate::plan::Action::Delete) {
        let moved = change.endpoint.as_ref().map(|moved| moved.from.as_str());
        let entry = changed.entry(&change.server).or_default();
        *entry = entry.or(moved);
    }
    let recorded: Vec<(&crate::state::ServerRecord, Option<&str>)> =
        changed.into_iter().filter_map(|(server, moved)| Some((state.servers.get(server)?, moved))).collect();
    if recorded.is_empty() {
        return None;
    }
    let lines = super::endpoint::endpoint_lines(
        recorded.iter().map(|(record, _)| (record.address.to_string(), record.observed.endpoint.as_ref())),
    );
    let mut text = String::from("Where clients connect:");
    for (line, (record, moved)) in lines.iter().zip(&recorded) {
        text.push_str(&format!("\n  {line}"));
        // A migration that did not get to its cutover moved nothing.
        let now = record.observed.endpoint.as_ref().map(crate::model::Endpoint::uri);
        if let Some(from) = moved.filter(|from| now.as_deref() != Some(*from)) {
            text.push_str(&format!("  (moved; was {from})"));
        }
    }
    Some(text)
}

/// Journals an apply's records through the locked state file (durable when `persist` returns).
struct JournalSink(Arc<std::sync::Mutex<LockedState>>);

impl crate::exec::StateSink for JournalSink {
    fn persist(&mut self, records: &[crate::state::JournalRecord]) -> Result<(), crate::exec::SinkError> {
        let mut locked = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        locked.append(records).map_err(|error| crate::exec::SinkError::new(error.to_string()))
    }
}

/// What [`execute`] needs.
pub(crate) struct Execution<'a> {
    pub plan: &'a crate::plan::Plan,
    pub fleet: &'a DesiredFleet,
    pub provider: Arc<dyn Provider>,
    pub locked: LockedState,
    /// Where a migration keeps its dumps ([`super::state_backend::work_dir`]).
    pub work_dir: PathBuf,
    pub parallelism: usize,
    /// JSON event lines on stdout instead of progress for people.
    pub json: bool,
    pub printer: &'a Printer,
    /// `apply` or `destroy`, as the messages name it.
    pub command: super::progress::Command,
    /// The task printing the provider's measurements ([`report_provider_events`]): it ends with
    /// the provider, and the summary waits for it, so that with `--json` the summary is the
    /// last line.
    pub measurements: Option<tokio::task::JoinHandle<()>>,
}

/// Applies a plan: runs the executor with the state journal as its sink, renders its events,
/// turns Ctrl-C into a graceful stop (first) or an abort (second), and compacts the state.
pub(crate) async fn execute(execution: Execution<'_>) -> anyhow::Result<super::Outcome> {
    use crate::exec::{self, ApplyOptions, Cancel, CancelLevel, EventSender};
    let Execution {
        plan,
        fleet,
        provider,
        locked,
        work_dir,
        parallelism,
        json,
        printer,
        command,
        measurements,
    } = execution;
    let passwords = resolve_passwords(fleet, plan)?;
    let mut migrator = crate::exec::PhasedMigrator::dump_restore(work_dir, passwords.clone(), None);
    migrator.unfinished = locked.state().migrations.clone();
    let migrator = Arc::new(migrator);
    let shared = Arc::new(std::sync::Mutex::new(locked));
    let options = ApplyOptions { parallelism, admin_passwords: passwords };
    let (events, receiver) = EventSender::channel();
    let cancel = Cancel::new();
    let signals = tokio::spawn(watch_interrupts(cancel.clone(), printer.clone()));
    let renderer = render_events(receiver, plan.changes.len(), json, command, printer.clone());
    let sink = Box::new(JournalSink(shared.clone()));
    let report = exec::apply(plan, provider, migrator, sink, options, events, cancel.clone()).await;
    signals.abort();
    let summary = renderer.await.ok().flatten();
    // The provider is gone with the apply: its last measurements are printed, then the summary.
    if let Some(measurements) = measurements {
        measurements.await.ok();
    }
    if let Some(summary) = summary {
        printer.data(&summary);
    }
    let mut locked = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Err(error) = locked.compact() {
        return Err(super::state_backend::errored(&locked, error));
    }
    if let Some(error) = &report.state_error {
        bail!(
            "the {} stopped because the state could not be saved: {error}; what it did is saved now",
            command.name()
        );
    }
    // An interrupt after the last change had started leaves nothing to finish.
    if cancel.level() != CancelLevel::Running && !report.succeeded() {
        printer
            .warn(&format!("the {0} was interrupted; run `pgfleet {0}` again to finish it", command.name()));
    }
    if command == super::progress::Command::Apply {
        report_endpoints(plan, locked.state(), printer);
    }
    Ok(if report.succeeded() { super::Outcome::Success } else { super::Outcome::Error })
}

/// Ctrl-C once: stop starting steps; twice: abort the running ones.
async fn watch_interrupts(cancel: crate::exec::Cancel, printer: Printer) {
    use crate::exec::CancelLevel;
    while tokio::signal::ctrl_c().await.is_ok() {
        match cancel.escalate() {
            CancelLevel::Stop => printer.warn(
                "interrupt: no new steps will start; running ones finish and are saved (press Ctrl-C again to abort them)",
            ),
            _ => printer.warn("second interrupt: aborting running steps; they stay recorded as in flight"),
        }
    }
}

/// Renders events as progress for people, or as JSON lines on stdout; with JSON, the
/// `apply_finished` line is handed back instead of printed, to be the last line.
fn render_events(
    receiver: tokio::sync::mpsc::UnboundedReceiver<crate::exec::Event>,
    total: usize,
    json: bool,
    command: super::progress::Command,
    printer: Printer,
) -> tokio::task::JoinHandle<Option<String>> {
    use std::io::IsTerminal;
    tokio::spawn(async move {
        let mut receiver = receiver;
        if json {
            let mut summary = None;
            while let Some(event) = receiver.recv().await {
                match event.kind {
                    crate::exec::EventKind::ApplyFinished { .. } => summary = Some(event.to_json_line()),
                    _ => printer.data(&event.to_json_line()),
                }
            }
            summary
        } else {
            let options = super::progress::ProgressOptions {
                command,
                terminal: std::io::stderr().is_terminal(),
                total,
                heartbeat: std::time::Duration::from_secs(10),
            };
            super::progress::render(receiver, options, &printer).await;
            None
        }
    })
}

/// The first line of `apply --json` and `destroy --json`: the plan, as `plan --json` prints it,
/// in a `plan` event.
pub(crate) fn plan_event(plan: &crate::plan::Plan) -> String {
    let document = crate::plan::render::json(plan, &crate::plan::saved::plan_id(plan));
    let document: serde_json::Value = serde_json::from_str(&document).unwrap_or_default();
    json_event("plan", serde_json::Map::from_iter([("plan".to_string(), document)]))
}

/// The last line of `apply --json` when there is nothing to apply: a summary of nothing.
pub(crate) fn empty_summary_event() -> String {
    crate::exec::Event::now(crate::exec::EventKind::ApplyFinished { summary: Default::default() })
        .to_json_line()
}

/// An event line of the CLI's own (`plan`, `restart_window`, `storage_usage`) with its
/// `@timestamp` in the engine events' one form (RFC 3339, UTC as `Z`).
fn json_event(kind: &str, fields: serde_json::Map<String, serde_json::Value>) -> String {
    let mut line = serde_json::Map::new();
    line.insert("@timestamp".into(), serde_json::to_value(chrono::Utc::now()).unwrap_or_default());
    line.insert("type".into(), kind.into());
    line.extend(fields);
    serde_json::Value::Object(line).to_string()
}

/// A plan's note, for the local provider, when a server's `version` is not the PostgreSQL the
/// machine runs: every cluster runs the installed binaries; said once per plan.
pub(crate) fn add_local_version_note(plan: &mut crate::plan::Plan, fleet: &DesiredFleet) {
    let ProviderSettings::Local(_) = &fleet.provider else { return };
    let Some(installed) =
        crate::pgtools::find_pg_bindir().ok().and_then(|bindir| crate::pgtools::installed_major(&bindir))
    else {
        return;
    };
    let others: Vec<String> = fleet
        .servers
        .iter()
        .filter(|(_, server)| server.spec.version.major() != installed)
        .map(|(name, server)| format!("{} on {name}", server.spec.version))
        .collect();
    if others.is_empty() {
        return;
    }
    plan.notes.push(crate::plan::Note {
        address: None,
        message: format!(
            "the local provider runs every cluster on the installed PostgreSQL {installed}, whatever `version` says \
             ({}); the version is kept as the server's setting, and a major version upgrade runs its real order \
             (replicas deleted, upgraded, created again) with the binaries unchanged",
            others.join(", ")
        ),
    });
}

/// Prints what the provider measured while it worked: restart windows and storage use for
/// people (or as JSON lines with `--json`); replica lag only with `-v`.
///
/// With `after`, nothing is printed before it fires (or its sender is dropped): `apply --json`
/// holds what the first refresh measured until its opening `plan` event is out.
pub(crate) fn report_provider_events(
    mut events: tokio::sync::mpsc::UnboundedReceiver<ProviderEvent>,
    json: bool,
    printer: Printer,
    after: Option<tokio::sync::oneshot::Receiver<()>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Some(after) = after {
            let _ = after.await;
        }
        while let Some(event) = events.recv().await {
            let (kind, server, text) = match &event {
                ProviderEvent::RestartWindow { server, reason, unavailable } => (
                    "restart_window",
                    server,
                    format!(
                        "{server}: connections failed for {} ms during the restart ({reason})",
                        unavailable.as_millis()
                    ),
                ),
                ProviderEvent::StorageUsage { server, used_bytes, limit_gb } => (
                    "storage_usage",
                    server,
                    format!("{server}: databases use {:.1} MB of {limit_gb} GB", *used_bytes as f64 / 1e6),
                ),
                ProviderEvent::ReplicaLag { server, lag_bytes } => {
                    printer.debug(&format!("{server}: replay is {lag_bytes} bytes behind"));
                    continue;
                }
            };
            if json {
                let fields = serde_json::Map::from_iter([
                    ("address".to_string(), serde_json::to_value(server.address()).unwrap_or_default()),
                    ("message".to_string(), text.into()),
                ]);
                printer.data(&json_event(kind, fields));
            } else {
                printer.info(&text);
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::endpoints_text;
    use crate::model::{Endpoint, ObservedServer, ServerName, ServerStatus};

    /// A migration whose cutover did not happen leaves the server where it was: no "moved".
    #[test]
    fn only_a_server_that_moved_says_where_it_was() {
        let mut plan = crate::plan::render::fixtures::basic_to_general_purpose();
        let before = Endpoint {
            host: "ledger.example".into(),
            port: 5432,
            user: "admin".into(),
            database: "postgres".into(),
        };
        plan.changes[0].endpoint = Some(crate::plan::EndpointMove {
            from: before.uri(),
            to: None,
            message: "clients reconnect".into(),
        });
        let record = |endpoint: &Endpoint| {
            let mut state = crate::state::State::new("fleet");
            let observed = ObservedServer {
                name: ServerName::new("ledger"),
                provider_id: "local/ledger".into(),
                spec: crate::plan::render::fixtures::spec(crate::rules::Tier::Basic, 2, 100),
                status: ServerStatus::Ready,
                replication_support: crate::rules::ReplicationSupport::Replica,
                endpoint: Some(endpoint.clone()),
            };
            state.servers.insert(ServerName::new("ledger"), crate::state::ServerRecord::new(observed));
            state
        };
        let stayed = endpoints_text(&plan, &record(&before)).unwrap();
        assert_eq!(stayed, format!("Where clients connect:\n  servers.ledger  {}", before.uri()));
        let after = Endpoint { host: "ledger-migration.example".into(), ..before.clone() };
        let moved = endpoints_text(&plan, &record(&after)).unwrap();
        assert_eq!(
            moved,
            format!(
                "Where clients connect:\n  servers.ledger  {}  (moved; was {})",
                after.uri(),
                before.uri()
            )
        );
    }
}
