//! pgfleet: a declarative reconciler for fleets of Azure Database for PostgreSQL servers.
//!
//! Users describe a fleet in TOML; pgfleet compares it with its stored state and with the live
//! servers, plans a dependency-ordered change graph that knows the service's rules, shows that
//! plan for review (terminal, Markdown, JSON), and applies it. Where the service cannot change
//! a property in place, pgfleet migrates the data (dump, restore, verify, cutover) instead of
//! destroying the server.
//!
//! # Layout
//!
//! - [`config`]: the fleet file: a serde mirror of the TOML, then a validated [`config::DesiredFleet`],
//!   with positioned diagnostics.
//! - [`rules`]: the service's rules as data (SKU catalog, limits, what restarts, what migrates).
//! - [`model`]: the shared vocabulary (server names, addresses, specs, observed servers).
//! - [`state`]: the state file: format, lock, atomic writes, journal.
//! - [`diff`]: desired vs stored vs live: field changes and drift.
//! - [`plan`]: the change graph, ordering, impact, saved plans and renderers (human, Markdown,
//!   JSON, GitHub annotations).
//! - [`exec`]: the DAG executor: parallel steps, retries, per-step journaling, events, Ctrl-C.
//! - [`migrate`]: dump / restore / verify / cutover between two servers, provider-agnostic.
//! - [`providers`]: the `Provider` trait and its backends: `local` (real PostgreSQL clusters),
//!   `azure` (ARM REST), and an in-process test provider.
//! - [`secret`]: `Redacted`, which never prints what it holds.
//! - [`emulator`]: an ARM emulator of the Azure service, for tests, demos and benchmarks.
//! - [`cli`]: clap commands, one file per command; the only place that prints.
//!
//! Config, diff and planning are pure functions of their inputs. Only providers and state
//! storage do I/O. The engine emits events; the CLI renders them.

pub mod cli;
pub mod config;
pub mod diff;
#[cfg(feature = "emulator")]
pub mod emulator;
pub mod exec;
pub mod migrate;
pub mod model;
pub mod pgtools;
pub mod plan;
pub mod providers;
pub mod rules;
pub mod secret;
pub mod state;
