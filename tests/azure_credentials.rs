//! The credential chain's first link, configured by the environment: a service principal
//! from `AZURE_TENANT_ID` / `AZURE_CLIENT_ID` / `AZURE_CLIENT_SECRET`, with the authority host
//! from `AZURE_AUTHORITY_HOST` pointed at the emulator's token endpoint. Its own test binary,
//! because it sets process environment variables.

#[path = "it/azure_common/mod.rs"]
mod azure_common;

use azure_common::*;
use pgfleet::emulator::FaultRates;
use pgfleet::providers::Provider;
use pgfleet::providers::azure::{AzureProvider, Credential};

#[tokio::test]
async fn a_service_principal_from_the_environment_gets_tokens_from_the_authority_host() {
    let emulator = emulator(FaultRates::default(), 0).await;
    // SAFETY: this binary's only test; nothing else reads the environment concurrently.
    unsafe {
        std::env::set_var("AZURE_TENANT_ID", "tenant-env");
        std::env::set_var("AZURE_CLIENT_ID", "client-env");
        std::env::set_var("AZURE_CLIENT_SECRET", "secret-env");
        std::env::set_var("AZURE_AUTHORITY_HOST", emulator.base_url());
    }
    let credential = Credential::from_environment();
    let Credential::ServicePrincipal(principal) = &credential else {
        panic!("expected a service principal, got {credential:?}");
    };
    assert_eq!(principal.authority_host, emulator.base_url());
    assert!(!format!("{credential:?}").contains("secret-env"));

    let mut options = provider_options(&emulator, &[]);
    options.credential = None;
    let provider = AzureProvider::new(options).unwrap();
    provider.refresh().await.unwrap();
    provider.refresh().await.unwrap();
    let log = emulator.requests();
    let tokens: Vec<_> = log.iter().filter(|r| r.path == "/tenant-env/oauth2/v2.0/token").collect();
    assert_eq!(tokens.len(), 1, "the token is cached between calls");
    assert!(log.iter().filter(|r| r.path.starts_with("/subscriptions/")).all(|r| r.status == 200));
}
