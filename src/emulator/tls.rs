//! `--tls`: the emulator speaks HTTPS, as ARM and Entra ID do, so clients that insist on it
//! (MSAL refuses an `http://` authority) run unmodified. At start it makes a certificate
//! authority and a server certificate signed by it (for `127.0.0.1`, `localhost` and the listen
//! address), both kept in memory; the CA's certificate (PEM) is written to a file the clients
//! trust (`SSL_CERT_FILE` for pgfleet, `REQUESTS_CA_BUNDLE` for Python's requests).
//!
//! The handshakes run on tokio-rustls (rustls with the ring provider, as the rest of pgfleet's
//! TLS), behind axum's [`Listener`], so the same server and graceful shutdown serve both modes.
//!
//! Must not: write the private keys anywhere, or use the wall clock (the certificates carry
//! rcgen's fixed validity, 1975 to 4096).

use axum::serve::Listener;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How to serve HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// Where the CA's certificate (PEM) is written at start (its directory is created).
    pub ca_file: PathBuf,
}

/// Why the certificates could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot make the emulator's TLS certificate: {0}")]
pub struct CertificateError(String);

/// The certificates of one run: the CA's, for clients, and the server's configuration.
pub(crate) struct Certificates {
    pub ca_pem: String,
    pub server: Arc<rustls::ServerConfig>,
}

fn error(source: impl std::fmt::Display) -> CertificateError {
    CertificateError(source.to_string())
}

/// The names the server certificate is valid for: the loopback names and the listen address.
fn subject_alt_names(listen: SocketAddr) -> Vec<String> {
    let mut names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    let listen = listen.ip().to_string();
    if !names.contains(&listen) {
        names.push(listen);
    }
    names
}

/// Makes a CA and a server certificate signed by it, valid for `listen`.
///
/// # Errors
/// Key generation or signing failed, or rustls refused the result.
pub(crate) fn certificates(listen: SocketAddr) -> Result<Certificates, CertificateError> {
    let mut ca = CertificateParams::default();
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name.push(DnType::CommonName, "pgfleet emulator CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().map_err(error)?).map_err(error)?;

    let mut server = CertificateParams::new(subject_alt_names(listen)).map_err(error)?;
    server.distinguished_name = DistinguishedName::new();
    server.distinguished_name.push(DnType::CommonName, "pgfleet emulator");
    // Strict verifiers (Python 3.13's default context) want the issuer's key id and usages.
    server.use_authority_key_identifier_extension = true;
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().map_err(error)?;
    let certificate = server.signed_by(&key, &ca).map_err(error)?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(error)?
        .with_no_client_auth()
        .with_single_cert(
            vec![certificate.der().clone(), ca.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(error)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Certificates { ca_pem: ca.pem(), server: Arc::new(config) })
}

/// How long a client may take over its handshake before its connection is closed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP listener whose connections are handed on after their TLS handshake. Handshakes run
/// concurrently, so a slow client holds up no other.
pub(crate) struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl TlsListener {
    pub(crate) fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> TlsListener {
        TlsListener { tcp, acceptor: TlsAcceptor::from(config), handshakes: JoinSet::new() }
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok((stream, address)) => {
                        let acceptor = self.acceptor.clone();
                        self.handshakes.spawn(async move {
                            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                            match handshake.await {
                                Ok(Ok(stream)) => Some((stream, address)),
                                Ok(Err(error)) => {
                                    tracing::debug!(%error, %address, "a TLS handshake failed");
                                    None
                                }
                                Err(_) => None,
                            }
                        });
                    }
                    // Out of file descriptors and the like: wait a moment, as axum's own
                    // listener does, rather than spin.
                    Err(error) => {
                        tracing::warn!(%error, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    if let Ok(Some(connection)) = done {
                        return connection;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
