//! The provider as a migration sees it inside an apply: every call retried under the apply's
//! policy (bounded attempts and time, `Retry-After` honoured), as the executor retries the
//! calls of every other step. A re-run after a crash meets the service mid-operation (409
//! "another operation in progress" on the staging server its predecessor was creating); such
//! answers are retryable and must not end the migration.
//!
//! Must not: retry what a retry cannot fix (refusals), or change what a call does.

use super::StepContext;
use crate::model::{LiveFleet, ObservedServer, ServerName, ServerPatch};
use crate::providers::{Connection, CreateRequest, Provider, ProviderError};
use async_trait::async_trait;

/// `inner` with each call run through [`StepContext::call`].
pub(crate) struct RetryingProvider<'a> {
    pub inner: &'a dyn Provider,
    pub context: &'a StepContext,
}

#[async_trait]
impl Provider for RetryingProvider<'_> {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    async fn refresh(&self) -> Result<LiveFleet, ProviderError> {
        self.context.call(|| self.inner.refresh()).await
    }

    async fn create(&self, request: CreateRequest) -> Result<ObservedServer, ProviderError> {
        self.context.call(|| self.inner.create(request.clone())).await
    }

    async fn update(&self, name: &ServerName, patch: &ServerPatch) -> Result<ObservedServer, ProviderError> {
        self.context.call(|| self.inner.update(name, patch)).await
    }

    async fn delete(&self, name: &ServerName) -> Result<(), ProviderError> {
        self.context.call(|| self.inner.delete(name)).await
    }

    async fn restart(&self, name: &ServerName) -> Result<ObservedServer, ProviderError> {
        self.context.call(|| self.inner.restart(name)).await
    }

    async fn promote(&self, name: &ServerName) -> Result<ObservedServer, ProviderError> {
        self.context.call(|| self.inner.promote(name)).await
    }

    async fn set_parameter(
        &self,
        name: &ServerName,
        parameter: &str,
        value: &str,
    ) -> Result<(), ProviderError> {
        self.context.call(|| self.inner.set_parameter(name, parameter, value)).await
    }

    async fn cutover(
        &self,
        name: &ServerName,
        staging: &ServerName,
    ) -> Result<ObservedServer, ProviderError> {
        self.context.call(|| self.inner.cutover(name, staging)).await
    }

    async fn connection(&self, name: &ServerName) -> Result<Connection, ProviderError> {
        self.context.call(|| self.inner.connection(name)).await
    }
}
