//! `pgfleet import`: adopts servers that exist but that this state does not manage. With
//! `--resource-group` (Azure) or nothing (the local provider's clusters under its root), every
//! such server of the fleet is imported; with `servers.NAME ID`, one. Each is written into the
//! fleet file (appended with `toml_edit`, so the file keeps its comments and layout; keys the
//! file's `[defaults]` already says are left to it), and recorded in the state as applied, so
//! the next plan has nothing to do. The admin password is written as a reference, never a value.
//!
//! Must not: change a server, or write a file that does not validate.

use super::session;
use super::{GlobalArgs, Outcome, Printer};
use crate::config::{DesiredFleet, ProviderSettings};
use crate::diff::{diff_server, spec_fields};
use crate::model::{Address, CarriedNames, LiveFleet, ObservedServer, ServerName, ServerSpec};
use crate::rules::{Key, Service};
use anyhow::{Context, bail};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ServiceFilter {
    Single,
    Flexible,
    All,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ImportArgs {
    /// One server to adopt (`servers.NAME` or `NAME`), with its ARM id (or, for the local
    /// provider, its cluster directory). Without them, every server the fleet does not manage.
    #[arg(value_names = ["ADDRESS", "ID"], num_args = 2)]
    pub one: Vec<String>,
    /// The resource group to list (Azure): the fleet's `[provider.azure] resource_group`.
    #[arg(long)]
    pub resource_group: Option<String>,
    /// Which service's servers to import.
    #[arg(long, value_enum, default_value_t = ServiceFilter::All)]
    pub service: ServiceFilter,
    /// When the file already describes the server differently, rewrite its table from what
    /// exists (without it, the import is refused and the differences shown).
    #[arg(long)]
    pub update_file: bool,
}

/// The password reference written when `[defaults]` has none.
const PASSWORD_VARIABLE: &str = "PGFLEET_ADMIN_PASSWORD";

pub(crate) fn run(global: &GlobalArgs, args: &ImportArgs, printer: &Printer) -> anyhow::Result<Outcome> {
    let fleet = session::load_fleet(global, printer)?;
    check_group(&fleet, args.resource_group.as_deref())?;
    let mut locked = session::open_state(global, &fleet, "import", printer)?;
    let runtime = session::runtime()?;
    // Once to learn the servers, once more reading what each carries.
    let provider = session::build_provider(&fleet, session::RetryReport::Verbose, printer)?;
    let names: BTreeSet<ServerName> = runtime
        .block_on(async {
            session::recover_interrupted(&mut locked, provider.as_ref(), printer).await?;
            session::refresh(provider.as_ref()).await
        })?
        .into_keys()
        .collect();
    let provider = session::build_import_provider(&fleet, names, printer)?;
    let live = runtime.block_on(session::refresh(provider.as_ref()))?;
    let state = locked.state().clone();
    let staging: BTreeSet<&ServerName> = state.migrations.values().map(|record| &record.staging).collect();
    let chosen: Vec<&ObservedServer> = match args.one.as_slice() {
        [address, id] => vec![one(&live, address, id)?],
        _ => live
            .values()
            .filter(|server| !state.servers.contains_key(&server.name) && !staging.contains(&server.name))
            .filter(|server| match args.service {
                ServiceFilter::All => true,
                ServiceFilter::Single => server.spec.service() == Service::Single,
                ServiceFilter::Flexible => server.spec.service() == Service::Flexible,
            })
            .collect(),
    };
    if chosen.is_empty() {
        printer.info("Nothing to import: every server found is managed by this state already");
        return Ok(Outcome::Success);
    }
    if let Some(managed) = chosen.iter().find(|server| state.servers.contains_key(&server.name)) {
        bail!("{} is managed by this state already; nothing to import", managed.name);
    }
    let path = &global.config;
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut document: toml_edit::DocumentMut =
        text.parse().with_context(|| format!("cannot read {} as TOML", path.display()))?;
    let defaults: toml::Table = toml::from_str::<toml::Table>(&text)
        .ok()
        .and_then(|table| table.get("defaults").and_then(toml::Value::as_table).cloned())
        .unwrap_or_default();
    let mut placeholder = false;
    for server in &chosen {
        if let Some(configured) = fleet.servers.get(&server.name) {
            let differences = diff_server(&configured.spec, None, &server.spec).attributes;
            if differences.is_empty() {
                continue;
            }
            if !args.update_file {
                let lines: Vec<String> = differences
                    .iter()
                    .map(|change| {
                        format!("  {}: the file says {}, it is {}", change.path, change.after, change.before)
                    })
                    .collect();
                bail!(
                    "the file describes {} differently from what exists:\n{}\nfix the file, or import with --update-file to rewrite its table",
                    server.name,
                    lines.join("\n")
                );
            }
        }
        let (table, needs_password) = server_table(server, &defaults, &fleet.provider);
        placeholder |= needs_password;
        let servers = document.entry("servers").or_insert_with(|| {
            let mut table = toml_edit::Table::new();
            table.set_implicit(true);
            toml_edit::Item::Table(table)
        });
        let Some(servers) = servers.as_table_mut() else {
            bail!("`servers` in {} is not a table", path.display())
        };
        servers.insert(server.name.as_str(), toml_edit::Item::Table(table));
    }
    let new_text = document.to_string();
    let (imported_fleet, _) = crate::config::parse(path, new_text.as_bytes()).map_err(|diagnostics| {
        anyhow::anyhow!(
            "the imported servers would not make a valid fleet file (nothing was written):\n{diagnostics}"
        )
    })?;
    write_file(path, &new_text).with_context(|| format!("cannot write {}", path.display()))?;
    let mut next = state.clone();
    for server in &chosen {
        record_imported(&mut next, server, &imported_fleet);
    }
    locked.write(next).context("could not save the state")?;
    let names: Vec<&str> = chosen.iter().map(|server| server.name.as_str()).collect();
    printer.info(&format!(
        "Imported {} into {} and the state: {}",
        super::progress::count(chosen.len(), "server"),
        path.display(),
        names.join(", ")
    ));
    if placeholder {
        printer.warn(&format!(
            "the file had no [defaults] admin_password: the imported servers read theirs from the environment \
             variable {PASSWORD_VARIABLE} (admin_password = {{ env = \"{PASSWORD_VARIABLE}\" }}); set it, or change the reference"
        ));
    }
    Ok(Outcome::Success)
}

/// Replaces the fleet file whole: written beside it, then renamed over it.
pub(super) fn write_file(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let temporary = path.with_extension("toml.import");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path)
}

/// An Azure fleet imports from its own resource group (the one refresh lists); a local fleet
/// from the clusters under its root.
fn check_group(fleet: &DesiredFleet, group: Option<&str>) -> anyhow::Result<()> {
    match (&fleet.provider, group) {
        (ProviderSettings::Local(_), Some(group)) => {
            bail!(
                "--resource-group {group} is for the azure provider; the local provider imports the clusters under its root"
            )
        }
        (ProviderSettings::Azure(azure), Some(group))
            if !azure.resource_group.eq_ignore_ascii_case(group) =>
        {
            bail!(
                "the fleet's servers live in resource group {} ([provider.azure] resource_group); to import from {group}, \
             set resource_group = \"{group}\" in the file",
                azure.resource_group
            )
        }
        _ => Ok(()),
    }
}

/// The live server `id` names (its ARM id, or its cluster directory), which must be `address`.
fn one<'a>(live: &'a LiveFleet, address: &str, id: &str) -> anyhow::Result<&'a ObservedServer> {
    let name = Address::server_named(address);
    let found = live
        .values()
        .find(|server| server.provider_id.eq_ignore_ascii_case(id))
        .with_context(|| format!("no server of this fleet's provider has the id {id}"))?;
    if found.name != name {
        bail!("{id} is the server {}, not {name}: import it as servers.{}", found.name, found.name);
    }
    Ok(found)
}

/// The server's table as the fleet file writes it: every key of its service, but those
/// `[defaults]` already says (the location also when it is the provider's), and whether the
/// admin password had to be a placeholder reference.
fn server_table(
    server: &ObservedServer,
    defaults: &toml::Table,
    provider: &ProviderSettings,
) -> (toml_edit::Table, bool) {
    let spec = &server.spec;
    let mut table = toml_edit::Table::new();
    let fields = spec_fields(spec);
    let mut put = |key: &str, value: toml::Value| {
        if defaults.get(key) == Some(&value) {
            return;
        }
        if let Ok(value) = value.to_string().parse::<toml_edit::Value>() {
            table.insert(key, toml_edit::Item::Value(value));
        }
    };
    if spec.service() == Service::Flexible || defaults.contains_key("service") {
        put("service", toml::Value::String(spec.service().as_str().to_string()));
    }
    for key in Key::ALL {
        let name = key.as_str();
        let skip = matches!(
            key,
            Key::Name
                | Key::Service
                | Key::Tags
                | Key::Location
                | Key::ReplicationSupport
                | Key::AdminPassword
                | Key::Parameters
                | Key::FirewallRules
                | Key::Databases
        ) || (spec.service() == Service::Flexible && matches!(key, Key::Tier | Key::Vcores));
        if skip {
            continue;
        }
        if let Some(value) = fields.get(name).and_then(|value| toml::Value::try_from(value).ok()) {
            put(name, value);
        }
    }
    let default_location =
        defaults.get("location").and_then(toml::Value::as_str).unwrap_or(provider.default_location());
    if spec.location != default_location {
        put("location", toml::Value::String(spec.location.clone()));
    }
    let needs_password = !defaults.contains_key("admin_password");
    if needs_password {
        let mut reference = toml_edit::InlineTable::new();
        reference.insert("env", PASSWORD_VARIABLE.into());
        table.insert("admin_password", toml_edit::value(reference));
    }
    let default_tags = defaults.get("tags").and_then(toml::Value::as_table).cloned().unwrap_or_default();
    let tags: BTreeMap<&String, &String> = spec
        .tags
        .iter()
        .filter(|(key, value)| {
            default_tags.get(key.as_str()).and_then(toml::Value::as_str) != Some(value.as_str())
        })
        .collect();
    if !tags.is_empty() {
        let mut inline = toml_edit::InlineTable::new();
        for (key, value) in tags {
            inline.insert(key, value.as_str().into());
        }
        table.insert("tags", toml_edit::value(inline));
    }
    let sub = |entries: Vec<(String, toml_edit::Item)>| {
        let mut sub = toml_edit::Table::new();
        for (key, item) in entries {
            sub.insert(&key, item);
        }
        toml_edit::Item::Table(sub)
    };
    if !spec.parameters.is_empty() {
        let entries =
            spec.parameters.iter().map(|(k, v)| (k.clone(), toml_edit::value(v.as_str()))).collect();
        table.insert("parameters", sub(entries));
    }
    if !spec.firewall_rules.is_empty() {
        let entries =
            spec.firewall_rules.iter().map(|(k, v)| (k.clone(), toml_edit::value(v.to_string()))).collect();
        table.insert("firewall_rules", sub(entries));
    }
    // A replica has its primary's databases; it declares none.
    if !spec.databases.is_empty() && spec.replica_of.is_none() {
        let mut databases = toml_edit::Table::new();
        databases.set_implicit(true);
        for (name, database) in &spec.databases {
            let mut entry = toml_edit::Table::new();
            if let Some(charset) = &database.charset {
                entry.insert("charset", toml_edit::value(charset.as_str()));
            }
            if let Some(collation) = &database.collation {
                entry.insert("collation", toml_edit::value(collation.as_str()));
            }
            databases.insert(name, toml_edit::Item::Table(entry));
        }
        table.insert("databases", toml_edit::Item::Table(databases));
    }
    (table, needs_password)
}

/// Records an imported server in the state as if pgfleet had applied it: its live record, and
/// what the file now says of its storage, zone and what it carries.
fn record_imported(state: &mut crate::state::State, server: &ObservedServer, fleet: &DesiredFleet) {
    state.record_observed(server.clone());
    let desired: Option<&ServerSpec> = fleet.servers.get(&server.name).map(|desired| &desired.spec);
    if let (Some(record), Some(desired)) = (state.servers.get_mut(&server.name), desired) {
        record.configured_storage_gb = Some(desired.storage_gb);
        record.configured_zone = desired.flexible.as_ref().and_then(|flexible| flexible.zone.clone());
        record.configured_carried =
            Some(CarriedNames::of(desired)).filter(|names| *names != CarriedNames::default());
    }
}
