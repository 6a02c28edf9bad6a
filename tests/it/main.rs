//! Every integration test of pgfleet in one binary (each test binary links the whole crate, so
//! one binary builds and links once). Tests that change process-wide state (environment
//! variables) stay in binaries of their own beside this directory.

mod azure_common;
mod cli_support;
mod common;
mod exec_support;
mod local_support;
mod team_support;

mod apply_cli;
mod azure_arm_surface;
mod azure_e2e_backing;
mod azure_e2e_example_replicas;
mod azure_e2e_faults;
mod azure_e2e_flexible;
mod azure_e2e_sigkill;
mod azure_e2e_stale;
mod azure_emulator;
mod azure_fixtures;
mod azure_flexible_fixtures;
mod azure_service_behaviour;
mod azure_single_server_surface;
mod cost_cli;
mod exec_crash;
mod exec_engine;
mod github_cli;
mod import_cli;
mod local_cli_carried;
mod local_cli_flexible;
mod local_cli_interrupted;
mod local_cli_migration;
mod local_cli_quickstart;
mod local_cli_replicas;
mod local_cli_signals;
mod local_migration;
mod local_provider;
mod local_replicas;
mod migrate_tls;
mod plan_cli;
mod schedule_cli;
mod sdk_conformance;
mod service_rules;
mod state_azurerm;
mod state_backends;
mod state_cli;
mod state_lock;
mod state_pg;
mod test_provider_rules;
mod validate_bad_input;
mod validate_carried;
mod validate_cli;
mod validate_examples;
mod validate_flexible;
mod validate_rules;
mod validate_schema;
