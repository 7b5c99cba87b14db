//! The HTTP/1.1 client: one keep-alive connection per User, requests pipelined on it and
//! answers read back in order.
//!
//! Why one ordered connection per User: the gateway refuses a request whose RequestID
//! counter is not greater than the last it accepted from that User (anti-replay, `E42`).
//! Requests sent over several connections, or by a client that may reorder them, reach the
//! gateway's counter check out of order and are refused. On one HTTP/1.1 connection the
//! gateway reads and answers requests in order, so counters taken in send order arrive in
//! order; pipelining (many requests written before the first answer is read) keeps the
//! connection busy without giving that up. Common client crates do not pipeline, so this
//! is written here on tokio-rustls and httparse.

use std::path::Path;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite};

/// A byte stream: TLS or plain TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Where the gateway listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://` (else plain `http://`).
    pub tls: bool,
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Endpoint {
    /// Parses `https://host[:port][/…]` or `http://…` (default ports 443 and 80).
    pub fn parse(url: &str) -> Option<Endpoint> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else {
            (false, url.strip_prefix("http://")?)
        };
        let authority = rest.split('/').next()?;
        if authority.is_empty() {
            return None;
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6.split_once(']')?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().ok()?,
                None => default_port(tls),
            };
            (h.to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().ok()?),
                None => (authority.to_string(), default_port(tls)),
            }
        };
        if host.is_empty() {
            return None;
        }
        Some(Endpoint { tls, host, port })
    }

    /// `host:port` for connecting and for the `Host` header.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn default_port(tls: bool) -> u16 {
    if tls { 443 } else { 80 }
}

/// The rustls client configuration: aws-lc-rs, trusting the CAs in `ca` (PEM) only.
///
/// # Errors
///
/// When the file cannot be read or holds no usable certificate.
pub fn tls_config(ca: &Path) -> Result<Arc<rustls::ClientConfig>, String> {
    let pem = std::fs::read(ca).map_err(|e| format!("{}: {e}", ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for item in pem::parse_many(&pem).map_err(|e| format!("{}: {e}", ca.display()))? {
        if item.tag() == "CERTIFICATE" {
            roots
                .add(rustls::pki_types::CertificateDer::from(
                    item.contents().to_vec(),
                ))
                .map_err(|e| format!("{}: {e}", ca.display()))?;
        }
    }
    if roots.is_empty() {
        return Err(format!("{}: no certificate", ca.display()));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Opens a connection (with the TLS handshake for `https://`). `server_name` is the name
/// checked in the certificate.
///
/// # Errors
///
/// Connection or handshake failure, as text.
pub async fn connect(
    endpoint: &Endpoint,
    tls: Option<&Arc<rustls::ClientConfig>>,
    server_name: &str,
) -> Result<Box<dyn Io>, String> {
    let addr = endpoint.authority();
    let tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    if !endpoint.tls {
        return Ok(Box::new(tcp));
    }
    let config = tls.ok_or("an https:// gateway needs gateway.ca")?;
    let name = rustls::pki_types::ServerName::try_from(server_name.to_string())
        .map_err(|e| format!("server name {server_name:?}: {e}"))?;
    let stream = tokio_rustls::TlsConnector::from(Arc::clone(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake with {addr}: {e}"))?;
    Ok(Box::new(stream))
}

/// An HTTP/1.1 POST with a DUIS body.
pub fn post(host: &str, path: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// One HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Vec<u8>,
}

/// Largest answer body accepted (a DUIS answer with a Pre-Command or an inventory page).
pub const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// Reads HTTP/1.1 answers (`Content-Length` framed) from a stream, in order.
#[derive(Debug)]
pub struct AnswerReader<R> {
    io: R,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> AnswerReader<R> {
    /// Over the read half of a connection.
    pub fn new(io: R) -> Self {
        AnswerReader {
            io,
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    /// The next answer.
    ///
    /// # Errors
    ///
    /// A closed connection, a malformed answer, or one without `Content-Length`.
    pub async fn next(&mut self) -> Result<Answer, String> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.buf) {
                Ok(httparse::Status::Complete(head)) => {
                    let status = resp.code.unwrap_or(0);
                    let len = resp
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .and_then(|h| std::str::from_utf8(h.value).ok())
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .ok_or("answer without Content-Length")?;
                    if len > MAX_ANSWER_BYTES {
                        return Err(format!("answer of {len} bytes is too large"));
                    }
                    while self.buf.len() < head + len {
                        self.fill().await?;
                    }
                    let body = self.buf[head..head + len].to_vec();
                    self.buf.drain(..head + len);
                    return Ok(Answer { status, body });
                }
                Ok(httparse::Status::Partial) => {
                    if self.buf.len() > 64 * 1024 {
                        return Err("answer header too large".into());
                    }
                    self.fill().await?;
                }
                Err(e) => return Err(format!("bad HTTP answer: {e}")),
            }
        }
    }

    async fn fill(&mut self) -> Result<(), String> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.io.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed by the gateway".into());
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        let e = Endpoint::parse("https://127.0.0.1:8079").unwrap();
        assert!(e.tls);
        assert_eq!(e.authority(), "127.0.0.1:8079");
        let e = Endpoint::parse("http://gw.example/api").unwrap();
        assert!(!e.tls);
        assert_eq!(e.authority(), "gw.example:80");
        assert_eq!(
            Endpoint::parse("https://[::1]:9").unwrap().authority(),
            "[::1]:9"
        );
        for bad in ["ftp://x", "https://", "https://:80", "https://h:port"] {
            assert!(Endpoint::parse(bad).is_none(), "{bad}");
        }
    }

    #[tokio::test]
    async fn pipelined_answers_are_read_in_order() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 503 Busy\r\ncontent-length: 0\r\n\r\n";
        let mut r = AnswerReader::new(&wire[..]);
        assert_eq!(
            r.next().await.unwrap(),
            Answer {
                status: 200,
                body: b"abc".to_vec()
            }
        );
        assert_eq!(r.next().await.unwrap().status, 503);
        assert!(r.next().await.is_err());
    }
}
