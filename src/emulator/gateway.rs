//! The connection gateway of `--backing local`: one listener per emulated server on its own
//! loopback address, port 5432, as Azure's gateway answers a server's host name. It accepts
//! the Azure login form `user@server` (and refuses a login without it, or naming another
//! server, with the service's message), rewrites the login to `user`, and relays the session
//! to the server's PostgreSQL cluster on 127.0.0.1.
//!
//! Owns: the listeners and the startup-message handling. Must not: read or log a password (the
//! authentication exchange is relayed untouched), or listen beyond 127.0.0.0/8.
//!
//! Not emulated: TLS. An `SSLRequest` is answered `N` (no TLS), so clients in `sslmode=prefer`
//! (libpq's and pg_dump's default) continue in plain text; `sslmode=require` is refused.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// PostgreSQL's port, where Azure's host names answer.
pub(crate) const POSTGRES_PORT: u16 = 5432;

const PROTOCOL_3: i32 = 196_608;
const SSL_REQUEST: i32 = 80_877_103;
const GSSENC_REQUEST: i32 = 80_877_104;
const CANCEL_REQUEST: i32 = 80_877_102;
/// A startup message larger than this is not PostgreSQL.
const MAX_STARTUP: usize = 10_000;
/// How long a client may take to send its startup message.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// Azure's answer to a login without `@server` (or naming another server).
pub const INVALID_USERNAME: &str = "Invalid Username specified. Please check the Username and retry connection. The Username should be in <username@hostname> format.";

/// The login form a server takes: Single Server's `user@server`, or Flexible Server's plain
/// `user`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginForm {
    WithServer,
    Plain,
}

/// Where a server's cluster listens now (`None` while it has none).
pub(crate) type Backend = Arc<dyn Fn() -> Option<u16> + Send + Sync>;

/// One server's listener; dropping it stops listening (sessions already relayed go on until
/// either side closes).
pub struct Gateway {
    pub address: Ipv4Addr,
    task: JoinHandle<()>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds port 5432 on the first free address of `candidates` and serves `server` there.
///
/// # Errors
/// No candidate address could be bound.
pub fn open(
    server: &str,
    login: LoginForm,
    candidates: impl IntoIterator<Item = Ipv4Addr>,
    backend: Backend,
) -> io::Result<Gateway> {
    let mut last = io::Error::new(io::ErrorKind::AddrNotAvailable, "no loopback address to try");
    for address in candidates {
        if !address.is_loopback() {
            continue;
        }
        match std::net::TcpListener::bind(SocketAddrV4::new(address, POSTGRES_PORT)) {
            Ok(listener) => {
                listener.set_nonblocking(true)?;
                let listener = TcpListener::from_std(listener)?;
                let task = tokio::spawn(serve(listener, server.to_ascii_lowercase(), login, backend));
                return Ok(Gateway { address, task });
            }
            Err(error) => last = error,
        }
    }
    Err(last)
}

async fn serve(listener: TcpListener, server: String, login: LoginForm, backend: Backend) {
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            Err(error) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::debug!(%error, server, "gateway accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let (server, backend) = (server.clone(), backend.clone());
        tokio::spawn(async move {
            if let Err(error) = relay(client, &server, login, &backend).await {
                tracing::debug!(%error, server, "gateway session ended");
            }
        });
    }
}

async fn read_packet(client: &mut TcpStream) -> io::Result<Vec<u8>> {
    let length = client.read_i32().await?;
    let length = usize::try_from(length).ok().filter(|l| (8..=MAX_STARTUP).contains(l));
    let length = length.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not a startup packet"))?;
    let mut body = vec![0; length - 4];
    client.read_exact(&mut body).await?;
    Ok(body)
}

fn packet(body: &[u8]) -> Vec<u8> {
    let length = i32::try_from(body.len() + 4).unwrap_or(i32::MAX);
    let mut bytes = length.to_be_bytes().to_vec();
    bytes.extend_from_slice(body);
    bytes
}

/// A FATAL `ErrorResponse` with SQLSTATE `code`.
fn error_response(code: &str, message: &str) -> Vec<u8> {
    let mut fields = Vec::new();
    for (tag, value) in [(b'S', "FATAL"), (b'V', "FATAL"), (b'C', code), (b'M', message)] {
        fields.push(tag);
        fields.extend_from_slice(value.as_bytes());
        fields.push(0);
    }
    fields.push(0);
    let mut bytes = vec![b'E'];
    bytes.extend(packet(&fields));
    bytes
}

/// The startup message's parameters, in order.
fn parameters(body: &[u8]) -> Vec<(String, String)> {
    let mut strings = body[4..].split(|b| *b == 0).map(|s| String::from_utf8_lossy(s).into_owned());
    let mut pairs = Vec::new();
    while let (Some(key), Some(value)) = (strings.next(), strings.next()) {
        if key.is_empty() {
            break;
        }
        pairs.push((key, value));
    }
    pairs
}

fn startup_message(pairs: &[(String, String)]) -> Vec<u8> {
    let mut body = PROTOCOL_3.to_be_bytes().to_vec();
    for (key, value) in pairs {
        body.extend_from_slice(key.as_bytes());
        body.push(0);
        body.extend_from_slice(value.as_bytes());
        body.push(0);
    }
    body.push(0);
    packet(&body)
}

/// `user@server` → `user`, when `server` is this gateway's server.
pub(crate) fn azure_login(user: &str, server: &str) -> Option<String> {
    let (login, named) = user.rsplit_once('@')?;
    (named.eq_ignore_ascii_case(server) && !login.is_empty()).then(|| login.to_string())
}

async fn connect_backend(backend: &Backend) -> io::Result<TcpStream> {
    let port =
        backend().ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the server has no cluster"))?;
    TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).await
}

async fn relay(mut client: TcpStream, server: &str, form: LoginForm, backend: &Backend) -> io::Result<()> {
    let startup = loop {
        let body = tokio::time::timeout(STARTUP_TIMEOUT, read_packet(&mut client))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no startup message"))??;
        let code = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        match code {
            SSL_REQUEST | GSSENC_REQUEST => client.write_all(b"N").await?,
            CANCEL_REQUEST => {
                let mut cluster = connect_backend(backend).await?;
                return cluster.write_all(&packet(&body)).await;
            }
            PROTOCOL_3 => break body,
            _ => {
                let message = "unsupported frontend protocol";
                return client.write_all(&error_response("08P01", message)).await;
            }
        }
    };
    let mut pairs = parameters(&startup);
    let user = pairs.iter().find(|(key, _)| key == "user").map(|(_, value)| value.clone());
    let login = match form {
        LoginForm::WithServer => user.and_then(|user| azure_login(&user, server)),
        LoginForm::Plain => user.filter(|user| !user.is_empty()),
    };
    let Some(login) = login else {
        return client.write_all(&error_response("28000", INVALID_USERNAME)).await;
    };
    for (key, value) in &mut pairs {
        if key == "user" {
            value.clone_from(&login);
        }
    }
    let mut cluster = match connect_backend(backend).await {
        Ok(cluster) => cluster,
        Err(_) => {
            let message = format!("Server '{server}' is not available right now; retry the connection.");
            return client.write_all(&error_response("08006", &message)).await;
        }
    };
    cluster.write_all(&startup_message(&pairs)).await?;
    tokio::io::copy_bidirectional(&mut client, &mut cluster).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_take_the_azure_form() {
        assert_eq!(azure_login("fleetadmin@pay-main", "pay-main").as_deref(), Some("fleetadmin"));
        assert_eq!(azure_login("fleetadmin@PAY-MAIN", "pay-main").as_deref(), Some("fleetadmin"));
        assert_eq!(azure_login("fleetadmin", "pay-main"), None);
        assert_eq!(azure_login("fleetadmin@other", "pay-main"), None);
        assert_eq!(azure_login("@pay-main", "pay-main"), None);
    }

    #[test]
    fn startup_parameters_round_trip() {
        let pairs = vec![("user".to_string(), "a@b".to_string()), ("database".into(), "postgres".into())];
        let message = startup_message(&pairs);
        assert_eq!(parameters(&message[4..]), pairs);
    }
}
