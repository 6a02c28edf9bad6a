//! The in-memory migration the test provider's engine tests use: create the staging server,
//! "copy" (both servers must be reachable), cutover, each stage journaled first. It must not
//! claim to move data: it exercises the executor's ordering and crash-safety, not pg_dump.
//! Behind the `test-support` feature, with the test provider it serves.

use super::{Migrator, StepContext};
use crate::model::{ObservedServer, ServerName};
use crate::plan::{Change, Operation};
use crate::providers::{CreateRequest, Provider, ProviderError, ProviderErrorKind};
use async_trait::async_trait;

/// Migrates through a staging server named `NAME-migrating`. Resumable: a staging server an
/// interrupted run left is reused, and a migration whose cutover already happened is done.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryMigrator;

impl MemoryMigrator {
    pub fn staging_name(server: &ServerName) -> ServerName {
        ServerName::new(format!("{server}-migrating"))
    }
}

#[async_trait]
impl Migrator for MemoryMigrator {
    async fn migrate(
        &self,
        provider: &dyn Provider,
        change: &Change,
        context: &StepContext,
    ) -> Result<ObservedServer, ProviderError> {
        let Operation::Migrate { to, .. } = &change.operation else {
            return Err(ProviderError::new(
                ProviderErrorKind::Other,
                format!("{} is not a migration", change.id),
            ));
        };
        let name = &change.server;
        let staging = MemoryMigrator::staging_name(name);
        let live = provider.refresh().await?;
        if let Some(server) =
            live.get(name).filter(|server| server.spec == *to && !live.contains_key(&staging))
        {
            return Ok(server.clone());
        }
        context.stage("create_staging").await?;
        let request = CreateRequest { name: staging.clone(), spec: to.clone(), admin_password: None };
        provider.create(request.clone()).await?;
        context.stage("copy").await?;
        provider.connection(name).await?;
        provider.connection(&staging).await?;
        context.stage("cutover").await?;
        provider.cutover(name, &staging).await
    }
}
