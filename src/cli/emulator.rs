//! `pgfleet emulator`: runs the ARM emulator of Azure Database for PostgreSQL on a loopback
//! address until interrupted, printing its base URL on the first line of stdout (point
//! `[provider.azure] endpoint` and `AZURE_AUTHORITY_HOST` at it).
//!
//! `--state FILE` is the global `--state` option: here it names the emulator's state file,
//! loaded at start and rewritten after every accepted write.
//!
//! `--backing local [--backing-root DIR]` backs every server with a real PostgreSQL cluster,
//! reachable at the loopback address the emulator reports as its host name; Ctrl-C (SIGINT) or
//! SIGTERM stops them before the emulator exits.
//!
//! `--tls` serves HTTPS with a certificate made at start; the CA's certificate is written to
//! `--ca-file` (default: beside the state file, else in a temporary directory removed at exit),
//! and the `SSL_CERT_FILE=` and `REQUESTS_CA_BUNDLE=` lines to export follow the URL on stdout.

use super::{GlobalArgs, Outcome, Printer};
use crate::emulator::backing::BackingOptions;
use crate::emulator::{self, EmulatorOptions, FaultRates, Latencies, ResourceGroupMode, TlsOptions};
use anyhow::Context;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Options of `pgfleet emulator`.
#[derive(Debug, clap::Args)]
pub(crate) struct EmulatorArgs {
    /// Where to listen; a loopback address (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Seed of the fault injector: the same seed replays the same faults.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// How long operations take, e.g. "create=2s,update=1s,restart=500ms,delete=500ms";
    /// "invisible=1s": how long a new server answers 404.
    #[arg(long)]
    pub latency: Option<Latencies>,
    /// Probabilities of injected faults per request, the token endpoint's included, e.g. "429=0.05,500=0.02,409=0.02,drop=0.01,lost=0.01,failed=0.01" (409: writes only; lost: carried out, answer dropped; failed: a write's operation ends Failed).
    #[arg(long)]
    pub faults: Option<FaultRates>,
    /// Turn off ARM's throttling (token buckets of 250 reads and 200 writes).
    #[arg(long)]
    pub no_throttling: bool,
    /// "local": back every server with a real PostgreSQL cluster on this machine, reachable
    /// at the fullyQualifiedDomainName the emulator reports (a loopback address of its own,
    /// port 5432, login `user@server` as on Azure).
    #[arg(long, value_enum)]
    pub backing: Option<BackingKind>,
    /// Where the backing clusters live (kept after the emulator stops); a temporary directory,
    /// removed at exit, when not given.
    #[arg(long, value_name = "DIR", requires = "backing")]
    pub backing_root: Option<PathBuf>,
    /// Requests inside a resource group that was never created (PUT …/resourcegroups/NAME):
    /// "auto" creates the group on a PUT into it; "strict" refuses them with
    /// ResourceGroupNotFound, as Azure does.
    #[arg(long, value_enum, default_value_t = GroupsMode::Auto)]
    pub resource_groups: GroupsMode,
    /// Serve HTTPS with a certificate made at start (for clients that require it, such as
    /// azure-identity); its CA certificate is written to --ca-file.
    #[arg(long)]
    pub tls: bool,
    /// Where --tls writes its CA certificate (PEM); default: STATE.ca.pem beside --state, else
    /// a temporary file removed at exit.
    #[arg(long, value_name = "PATH", requires = "tls", alias = "tls-ca")]
    pub ca_file: Option<PathBuf>,
}

/// `--resource-groups`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum GroupsMode {
    /// A PUT into a group never created creates it.
    Auto,
    /// Requests inside a group never created are refused (ResourceGroupNotFound).
    Strict,
}

/// Where `--tls` writes the CA certificate, and whether it is a temporary file to remove.
fn ca_file(global: &GlobalArgs, args: &EmulatorArgs) -> (PathBuf, bool) {
    if let Some(path) = &args.ca_file {
        return (path.clone(), false);
    }
    if let Some(state) = &global.state {
        let stem = state.file_stem().map_or_else(|| "emulator".into(), |s| s.to_string_lossy().into_owned());
        return (state.with_file_name(format!("{stem}.ca.pem")), false);
    }
    let directory = std::env::temp_dir().join(format!("pgfleet-emulator-{}", std::process::id()));
    (directory.join("ca.pem"), true)
}

/// What backs the emulated servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BackingKind {
    /// PostgreSQL clusters managed like the `local` provider's.
    Local,
}

fn backing_options(args: &EmulatorArgs) -> Option<BackingOptions> {
    args.backing?;
    Some(match &args.backing_root {
        Some(root) => BackingOptions { root: root.clone(), remove_root: false, pg_bindir: None },
        None => BackingOptions {
            root: std::env::temp_dir().join(format!("pgfleet-emulator-{}", std::process::id())),
            remove_root: true,
            pg_bindir: None,
        },
    })
}

/// Runs the emulator until Ctrl-C (SIGINT) or SIGTERM.
///
/// # Errors
/// A non-loopback `--listen`, an address in use, or an unreadable state file.
pub(crate) fn run(global: &GlobalArgs, args: &EmulatorArgs, printer: &Printer) -> anyhow::Result<Outcome> {
    if !args.listen.ip().is_loopback() {
        anyhow::bail!(
            "--listen {} is not a loopback address; the emulator serves this machine only",
            args.listen
        );
    }
    let tls = args.tls.then(|| ca_file(global, args));
    let options = EmulatorOptions {
        listen: args.listen,
        seed: args.seed,
        latencies: args.latency.unwrap_or_default(),
        faults: args.faults.unwrap_or_default(),
        throttling: !args.no_throttling,
        state_file: global.state.clone(),
        backing: backing_options(args),
        // A long-running emulator keeps the latest requests only (bodies included).
        request_log: Some(10_000),
        resource_groups: match args.resource_groups {
            GroupsMode::Auto => ResourceGroupMode::Auto,
            GroupsMode::Strict => ResourceGroupMode::Strict,
        },
        tls: tls.as_ref().map(|(ca_file, _)| TlsOptions { ca_file: ca_file.clone() }),
        ..EmulatorOptions::default()
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        // Listening before anything starts: a stop asked for at any moment stops the clusters.
        let stop = stop_signals()?;
        let running = emulator::start(options).await.context("cannot start the emulator")?;
        printer.data(&running.base_url());
        if let Some((ca_file, _)) = &tls {
            let path = ca_file.display();
            printer.data(&format!("export SSL_CERT_FILE={path}\nexport REQUESTS_CA_BUNDLE={path}"));
            printer.info(&format!(
                "HTTPS with a certificate made for this run; its CA certificate is {path} \
                 (pgfleet trusts it through SSL_CERT_FILE, Python's requests through REQUESTS_CA_BUNDLE)"
            ));
        }
        printer.info("emulating Microsoft.DBforPostgreSQL (api-version 2017-12-01); Ctrl-C or SIGTERM stops");
        let signal = stop.await;
        printer.info(&format!("{signal}: stopping"));
        let (served, refused) = running.counts();
        printer.info(&format!("served {served} requests ({refused} refused or failed)"));
        running.shutdown().await;
        if let Some((ca_file, true)) = &tls {
            if let Some(directory) = ca_file.parent() {
                let _ = std::fs::remove_dir_all(directory);
            }
        }
        Ok(Outcome::Success)
    })
}

/// Resolves with the name of the first stop signal received: SIGINT (Ctrl-C) or SIGTERM (what
/// `kill`, service managers and CI runners send). Either way the backing clusters are stopped
/// before the emulator exits; without this, SIGTERM ended the process and left them running.
fn stop_signals() -> anyhow::Result<impl std::future::Future<Output = &'static str>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => "interrupted",
            _ = terminate.recv() => "terminated",
        }
    })
}
