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
//! - [`config`]: the fleet file: the TOML walked against the keys the config model knows, then a
//!   validated [`config::DesiredFleet`], with positioned diagnostics that name the rule they report.
//! - [`rules`]: the service's rules, once: data (SKU catalog, limits, what restarts, what
//!   migrates) and predicates ([`rules::check`]) answering "may this be created / changed from A
//!   to B, given its replication set?" with a typed [`rules::Refusal`]. Every other module asks
//!   them; `docs/service-rules.md` lists them with their codes and sources.
//! - [`model`]: the shared vocabulary (server names, addresses, specs, observed servers).
//! - [`state`]: the state file: format, lock, atomic writes, journal.
//! - [`diff`]: desired vs stored vs live: field changes and drift.
//! - [`plan`]: each server decided once (`decide`), the edges derived from the decisions
//!   (`edges`), impact, saved plans and renderers (human, Markdown, JSON, GitHub annotations).
//! - [`exec`]: the DAG executor: parallel steps, retries, per-step journaling, events, Ctrl-C,
//!   and the [`exec::Migrator`] that runs a migration for a plan's `migrate` change.
//! - [`migrate`]: dump / restore / verify / cutover between two servers, provider-agnostic; it
//!   knows nothing of plans or steps.
//! - [`providers`]: the `Provider` trait and its backends: `local` (real PostgreSQL clusters),
//!   `azure` (ARM REST), and, behind the `test-support` feature, an in-process test provider.
//! - [`pgtools`]: running the PostgreSQL tools (binaries, OS user, timeouts, death with pgfleet).
//! - [`secret`]: `Redacted`, which never prints what it holds.
//! - [`emulator`] (default feature `emulator`): an ARM emulator of the Azure service, for tests,
//!   demos and benchmarks.
//! - [`cli`]: clap commands, one file per command; the only place that prints.
//!
//! Modules import downwards only (rules ← model ← config/state/diff ← plan ← exec ← cli;
//! providers and migrate beside exec); items are `pub(crate)` unless the binary, the tests or
//! the benchmarks use them.
//!
//! Config, diff and planning are pure functions of their inputs. Only providers and state
//! storage do I/O. The engine emits events; the CLI renders them.

pub mod cli;
pub mod config;
pub mod cost;
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
pub mod schedule;
pub mod secret;
pub mod state;
