//! The fleet file: reading TOML into a raw serde mirror (unknown keys denied), then validating
//! and resolving it into a [`DesiredFleet`]. Every problem is reported at once, each with its
//! file, line, column, key path and a hint. This module reads the fleet file and the files it
//! names, and nothing else; it never writes.

mod model;

pub use model::{
    AzureSettings, DesiredFleet, DesiredServer, LocalSettings, ProviderSettings, SecretRef, SourceFile,
};
