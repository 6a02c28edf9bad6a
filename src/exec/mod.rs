//! The DAG executor: applies a plan through a provider, in dependency order, in parallel where it can, persisting every step.
