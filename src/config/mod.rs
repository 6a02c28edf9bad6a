//! The fleet file: reading TOML into a raw serde mirror (unknown keys denied), then validating
//! and resolving it into a [`DesiredFleet`]. Every problem is reported at once, each with its
//! file, line, column, key path and a hint. This module reads the fleet file and the files it
//! names, and nothing else; it never writes.
//!
//! Stages: `document` (bytes → spanned TOML, syntax errors) → `structure` (keys and types: the
//! TOML walked against what the `raw` types expect) → `resolve` (`[defaults]` inherited) →
//! `validate` and `replicas` (the service's rules, asked of `crate::rules::check`) → `load` (the
//! [`DesiredFleet`]).

mod diagnostics;
mod document;
mod finding;
mod format;
mod load;
mod model;
pub(crate) mod raw;
mod redact;
mod replicas;
mod resolve;
mod schema;
mod schema_ranges;
mod secret;
mod state;
mod structure;
mod validate;

pub use diagnostics::{Diagnostic, Diagnostics, Severity};
pub use format::{FormatError, format};
pub use load::{ConfigError, StateSection, load, parse, parse_state_section};
pub use model::{
    AzureSettings, AzurermStateSettings, DesiredFleet, DesiredServer, LocalSettings, PgStateSettings,
    ProviderSettings, SecretRef, SourceFile, StateSettings, apply_entry,
};
pub(crate) use redact::shown_source;
pub use schema::fleet_schema;
