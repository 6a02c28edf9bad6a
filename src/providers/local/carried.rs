//! What a local server carries, made real on its cluster: server parameters with `ALTER SYSTEM`
//! (a reload applies the dynamic ones; a static one waits for the restart the update makes),
//! firewall rules as `pg_hba.conf` host lines (each range as the CIDR blocks that cover it; the
//! clusters listen on 127.0.0.1 only, which stays allowed for pgfleet and local clients), and
//! databases with `CREATE DATABASE` / `DROP DATABASE`.
//!
//! A Flexible Server's `max_connections` is the cluster's own setting (`ClusterMeta`), as at
//! create; parameters PostgreSQL does not have (Azure's own, such as `require_secure_transport`)
//! are recorded and have no effect on a local cluster.
//!
//! Must not: decide what the service allows (that is `crate::rules`, through `checks`).

use super::cluster::{Cluster, ClusterMeta};
use super::{LocalError, LocalProvider};
use crate::model::{DatabaseSpec, FirewallRange, ServerPatch};
use crate::providers::ProviderError;
use std::collections::BTreeMap;

/// The `pg_hba.conf` of a cluster: pgfleet's own access from 127.0.0.1, then one line per CIDR
/// block of each firewall rule.
pub(super) fn hba(firewall_rules: &BTreeMap<String, FirewallRange>) -> String {
    let mut hba = String::from(
        "# Written by pgfleet: SCRAM over TCP from 127.0.0.1 (pgfleet and local clients), then the\n\
         # server's firewall rules.\n\
         host all all 127.0.0.1/32 scram-sha-256\n\
         host replication all 127.0.0.1/32 scram-sha-256\n",
    );
    for (name, range) in firewall_rules {
        hba.push_str(&format!("# firewall rule {name}: {range}\n"));
        for block in range.cidr_blocks() {
            hba.push_str(&format!("host all all {block} scram-sha-256\n"));
        }
    }
    hba
}

/// A SQL identifier, quoted.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A SQL string literal.
fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn sql(context: &str) -> impl Fn(tokio_postgres::Error) -> LocalError + '_ {
    move |source| LocalError::Sql { context: context.to_string(), source }
}

impl LocalProvider {
    /// Applies the parameters, firewall rules and databases of `patch` to a running cluster
    /// whose metadata (`meta.spec`) already holds the result. Idempotent: a retry after a
    /// failure finishes the job.
    pub(super) async fn apply_carried(
        &self,
        cluster: &Cluster,
        meta: &ClusterMeta,
        patch: &ServerPatch,
    ) -> Result<(), ProviderError> {
        if patch.parameters.is_empty() && patch.firewall_rules.is_empty() && patch.databases.is_empty() {
            return Ok(());
        }
        let client = cluster.connect(meta.port).await?;
        if !patch.firewall_rules.is_empty() {
            cluster.write_hba(&hba(&meta.spec.firewall_rules), &self.tools)?;
        }
        let flexible = meta.spec.flexible.is_some();
        for (name, value) in &patch.parameters {
            if flexible && name == "max_connections" {
                // The cluster's own setting, written with the others at the restart.
                continue;
            }
            if !known_to_postgres(&client, name).await? {
                continue;
            }
            let statement = match value {
                Some(value) => format!("ALTER SYSTEM SET {} = {}", ident(name), literal(value)),
                None => format!("ALTER SYSTEM RESET {}", ident(name)),
            };
            client.batch_execute(&statement).await.map_err(sql(&format!("setting {name}")))?;
        }
        client.batch_execute("SELECT pg_reload_conf()").await.map_err(sql("reloading the settings"))?;
        if meta.spec.replica_of.is_none() {
            for (name, database) in &patch.databases {
                match database {
                    Some(database) => create_database(&client, name, database).await?,
                    None => {
                        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", ident(name));
                        client.batch_execute(&statement).await.map_err(sql(&format!("dropping {name}")))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// The databases a running cluster has (system databases aside), with their charset and
    /// collation.
    pub(super) async fn databases(
        &self,
        cluster: &Cluster,
        port: u16,
    ) -> Result<BTreeMap<String, DatabaseSpec>, LocalError> {
        let client = cluster.connect(port).await?;
        let rows = client
            .query(
                "SELECT datname, pg_encoding_to_char(encoding), datcollate FROM pg_database \
                 WHERE NOT datistemplate ORDER BY datname",
                &[],
            )
            .await
            .map_err(sql("listing the databases"))?;
        Ok(rows
            .into_iter()
            .map(|row| (row.get::<_, String>(0), row.get::<_, String>(1), row.get::<_, String>(2)))
            .filter(|(name, _, _)| !crate::rules::is_system_database(name))
            .map(|(name, charset, collation)| {
                (name, DatabaseSpec { charset: Some(charset), collation: Some(collation) })
            })
            .collect())
    }
}

/// Whether PostgreSQL has the parameter (Azure's own are recorded only); a dotted name is an
/// extension's, which PostgreSQL takes as a placeholder.
async fn known_to_postgres(client: &tokio_postgres::Client, name: &str) -> Result<bool, LocalError> {
    if name.contains('.') {
        return Ok(true);
    }
    let row = client
        .query_opt("SELECT 1 FROM pg_settings WHERE lower(name) = lower($1)", &[&name])
        .await
        .map_err(sql("reading the parameters"))?;
    Ok(row.is_some())
}

/// `CREATE DATABASE`, unless it exists (a retry), with its charset and collation.
async fn create_database(
    client: &tokio_postgres::Client,
    name: &str,
    database: &DatabaseSpec,
) -> Result<(), ProviderError> {
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .map_err(sql("listing the databases"))?
        .is_some();
    if exists {
        return Ok(());
    }
    let mut statement = format!("CREATE DATABASE {} TEMPLATE template0", ident(name));
    if let Some(charset) = &database.charset {
        statement.push_str(&format!(" ENCODING {}", literal(charset)));
    }
    if let Some(collation) = &database.collation {
        statement.push_str(&format!(" LC_COLLATE {0} LC_CTYPE {0}", literal(collation)));
    }
    client.batch_execute(&statement).await.map_err(|source| {
        let detail = source.as_db_error().map_or_else(|| source.to_string(), |e| e.message().to_string());
        ProviderError::refused(
            crate::rules::Rule::InvalidDatabaseName.code_str(),
            format!("database {name} cannot be created on this machine: {detail}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firewall_rules_become_cidr_host_lines() {
        let range = |start: &str, end: &str| FirewallRange {
            start: start.parse().unwrap(),
            end: end.parse().unwrap(),
        };
        let rules = BTreeMap::from([
            ("ci".to_string(), range("198.51.100.7", "198.51.100.7")),
            ("office".to_string(), range("203.0.113.0", "203.0.113.255")),
            ("odd".to_string(), range("10.0.0.1", "10.0.0.6")),
        ]);
        let text = hba(&rules);
        assert!(text.contains("host all all 127.0.0.1/32 scram-sha-256\n"));
        assert!(text.contains("host all all 198.51.100.7/32 scram-sha-256\n"));
        assert!(text.contains("host all all 203.0.113.0/24 scram-sha-256\n"));
        for block in ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"] {
            assert!(text.contains(&format!("host all all {block} scram-sha-256\n")), "{block}: {text}");
        }
        assert_eq!(range("0.0.0.0", "255.255.255.255").cidr_blocks(), ["0.0.0.0/0"]);
    }
}
