//! TLS for the migration's own SQL sessions (freeze, verification), chosen as libpq chooses it
//! for the pg_dump and pg_restore it runs beside them: `PGSSLMODE` and `PGSSLROOTCERT`. Without
//! `PGSSLMODE`, a server on another machine (Azure, which enforces SSL by default) must speak
//! TLS (`require`), while one on this machine (a local cluster, the emulator's gateway) may
//! answer that it has none (`prefer`).
//!
//! Whenever TLS is used, pgfleet's sessions verify the certificate (against Mozilla's roots, or
//! the roots in `PGSSLROOTCERT`) and the host name; libpq's own `prefer` and `require` do not,
//! so the dump and restore tools are only as strict as `PGSSLMODE` makes them (`verify-full`
//! with `PGSSLROOTCERT` for the same guarantee).

use super::MigrateError;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::Path;
use std::sync::Arc;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// How the migration's sessions use TLS.
#[derive(Clone)]
pub struct SessionTls {
    /// `None`: `require` for servers on other machines, `prefer` on this one.
    pub(crate) mode: Option<SslMode>,
    pub(crate) connector: MakeRustlsConnect,
}

impl std::fmt::Debug for SessionTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionTls").field("mode", &self.mode).finish_non_exhaustive()
    }
}

impl SessionTls {
    /// From libpq's variables: `PGSSLMODE` and `PGSSLROOTCERT`.
    ///
    /// # Errors
    /// An unknown `PGSSLMODE`, or a `PGSSLROOTCERT` that cannot be read as PEM certificates.
    pub(crate) fn from_env() -> Result<SessionTls, MigrateError> {
        let mode = std::env::var("PGSSLMODE").unwrap_or_default();
        let roots = std::env::var_os("PGSSLROOTCERT").filter(|path| !path.is_empty());
        SessionTls::new(&mode, roots.as_deref().map(Path::new))
    }

    /// `mode` is a libpq `sslmode` (empty for the default: `require`, or `prefer` for a server
    /// on this machine); `roots` a PEM file of the certificates to trust instead of Mozilla's.
    ///
    /// # Errors
    /// An unknown mode, or roots that cannot be read.
    pub fn new(mode: &str, roots: Option<&Path>) -> Result<SessionTls, MigrateError> {
        let mode = match mode {
            "" => None,
            "disable" => Some(SslMode::Disable),
            "allow" | "prefer" => Some(SslMode::Prefer),
            "require" | "verify-ca" | "verify-full" => Some(SslMode::Require),
            other => {
                return Err(MigrateError::Invalid(format!(
                    "PGSSLMODE={other:?} is not an sslmode; use disable, prefer, require or verify-full"
                )));
            }
        };
        let mut store = rustls::RootCertStore::empty();
        match roots {
            Some(path) => {
                let unreadable = |error: &dyn std::fmt::Display| {
                    MigrateError::Invalid(format!(
                        "cannot read the trusted certificates in {} (PGSSLROOTCERT): {error}",
                        path.display()
                    ))
                };
                for certificate in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
                    store.add(certificate.map_err(|e| unreadable(&e))?).map_err(|e| unreadable(&e))?;
                }
                if store.is_empty() {
                    return Err(unreadable(&"no certificate in the file"));
                }
            }
            None => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| MigrateError::Invalid(format!("TLS setup: {error}")))?
            .with_root_certificates(store)
            .with_no_client_auth();
        Ok(SessionTls { mode, connector: MakeRustlsConnect::new(config) })
    }

    /// The mode for a session with `host`.
    pub(crate) fn mode_for(&self, host: &str) -> SslMode {
        let on_this_machine = host.eq_ignore_ascii_case("localhost")
            || host.parse::<std::net::IpAddr>().is_ok_and(|address| address.is_loopback());
        self.mode.unwrap_or(if on_this_machine { SslMode::Prefer } else { SslMode::Require })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_follow_libpq_and_unknown_ones_are_refused() {
        for (given, wanted) in [
            ("prefer", SslMode::Prefer),
            ("allow", SslMode::Prefer),
            ("disable", SslMode::Disable),
            ("require", SslMode::Require),
            ("verify-full", SslMode::Require),
        ] {
            let tls = SessionTls::new(given, None).unwrap();
            for host in ["127.0.0.1", "pay.postgres.database.azure.com"] {
                assert_eq!(tls.mode_for(host), wanted, "{given} {host}");
            }
        }
        // Unset: TLS required off this machine, preferred on it.
        let default = SessionTls::new("", None).unwrap();
        assert_eq!(default.mode_for("pay.postgres.database.azure.com"), SslMode::Require);
        assert_eq!(default.mode_for("10.1.2.3"), SslMode::Require);
        for host in ["127.0.0.1", "127.3.0.7", "localhost", "::1"] {
            assert_eq!(default.mode_for(host), SslMode::Prefer, "{host}");
        }
        let error = SessionTls::new("sometimes", None).unwrap_err().to_string();
        assert!(error.contains("PGSSLMODE=\"sometimes\""), "{error}");
    }

    #[test]
    fn roots_that_are_not_certificates_are_refused_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roots.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let error = SessionTls::new("require", Some(&path)).unwrap_err().to_string();
        assert!(error.contains("roots.pem") && error.contains("PGSSLROOTCERT"), "{error}");
        let missing = SessionTls::new("require", Some(&dir.path().join("absent.pem"))).unwrap_err();
        assert!(missing.to_string().contains("absent.pem"), "{missing}");
    }
}
