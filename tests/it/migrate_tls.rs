//! The migration's own SQL sessions (freeze, verification) speak TLS to a server that offers it
//! — Azure enforces SSL by default — and verify its certificate; a server without TLS (a local
//! cluster, the emulator's gateway) is used in plain text unless TLS is required. Against a real
//! PostgreSQL cluster whose TLS is switched on and off with a self-signed certificate.

use crate::local_support;

use local_support::{Harness, PASSWORD, admin, spec};
use pgfleet::migrate::{SessionTls, connect_with};
use pgfleet::model::Endpoint;
use pgfleet::providers::Connection;
use pgfleet::rules::Tier;
use pgfleet::secret::Redacted;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

/// Whether the session the client runs on is encrypted.
async fn encrypted(client: &tokio_postgres::Client) -> bool {
    client.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", &[]).await.unwrap().get(0)
}

/// Turns TLS on the cluster on (with `files` as certificate and key) or off, and waits until
/// new sessions see it.
async fn set_tls(port: u16, files: Option<(&Path, &Path)>) {
    let client = admin(port).await;
    if let Some((certificate, key)) = files {
        for (setting, path) in [("ssl_cert_file", certificate), ("ssl_key_file", key)] {
            client
                .batch_execute(&format!("ALTER SYSTEM SET {setting} = '{}'", path.display()))
                .await
                .unwrap();
        }
    }
    let on = if files.is_some() { "on" } else { "off" };
    client.batch_execute(&format!("ALTER SYSTEM SET ssl = {on}")).await.unwrap();
    client.batch_execute("SELECT pg_reload_conf()").await.unwrap();
    for _ in 0..100 {
        let shown: String = admin(port).await.query_one("SHOW ssl", &[]).await.unwrap().get(0);
        if shown == on {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("ssl did not become {on}");
}

#[tokio::test]
async fn sessions_use_tls_when_offered_verify_the_certificate_and_require_it_when_asked() {
    let harness = Harness::new(55760);
    let server = harness.create("tls-db", spec(Tier::GeneralPurpose, 2, 10)).await;
    let port = server.endpoint.as_ref().expect("an endpoint").port;
    let connection = Connection {
        endpoint: Endpoint {
            host: "127.0.0.1".into(),
            port,
            user: "fleetadmin".into(),
            database: "postgres".into(),
        },
        password: Redacted::new(PASSWORD.to_string()),
    };

    // A certificate for 127.0.0.1, readable by the cluster's owner only.
    let issued = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let dir = harness.root.join("tls");
    std::fs::create_dir_all(&dir).unwrap();
    let (certificate, key, trusted) = (dir.join("server.crt"), dir.join("server.key"), dir.join("ca.pem"));
    std::fs::write(&certificate, issued.cert.pem()).unwrap();
    std::fs::write(&key, issued.signing_key.serialize_pem()).unwrap();
    std::fs::write(&trusted, issued.cert.pem()).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let owner = std::fs::metadata(harness.server_dir("tls-db")).unwrap();
    for path in [&dir, &certificate, &key] {
        std::os::unix::fs::chown(path, Some(owner.uid()), Some(owner.gid())).unwrap();
    }

    // No TLS on the server: plain text under the default mode, refused when TLS is required.
    let plain = connect_with(&connection, "postgres", &SessionTls::new("", None).unwrap()).await.unwrap();
    assert!(!encrypted(&plain).await);
    let required = SessionTls::new("require", Some(&trusted)).unwrap();
    assert!(connect_with(&connection, "postgres", &required).await.is_err(), "TLS was required");

    set_tls(port, Some((&certificate, &key))).await;
    // TLS offered and the certificate trusted: encrypted, in either mode.
    for mode in ["prefer", "require"] {
        let tls = SessionTls::new(mode, Some(&trusted)).unwrap();
        let client = connect_with(&connection, "postgres", &tls).await.unwrap();
        assert!(encrypted(&client).await, "{mode}");
    }
    // A certificate nobody vouches for (Mozilla's roots only): refused, never used unverified.
    let error = connect_with(&connection, "postgres", &SessionTls::new("prefer", None).unwrap())
        .await
        .expect_err("an untrusted certificate");
    assert!(error.to_string().contains("invalid peer certificate"), "{error}");
    // Turning TLS off on the server: back to plain text.
    set_tls(port, None).await;
    let plain =
        connect_with(&connection, "postgres", &SessionTls::new("prefer", None).unwrap()).await.unwrap();
    assert!(!encrypted(&plain).await);
}
