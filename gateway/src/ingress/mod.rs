//! The DUIS ingress: the three DCC Boxed web services over HTTPS, the Section H4 checks in
//! order, and the signed synchronous answers.
//!
//! - [`codes`]: every rejection and its DUIS response code (the table is there).
//! - [`respond`]: building and signing responses with the DSP XML-signing key.
//! - [`server`]: actix-web over rustls, health/readiness, the metrics listener, graceful
//!   shutdown.
//! - [`registration_push`]: `POST /api/v1/registration`, where Registration Data Providers
//!   push refreshes.
//! - [`tls`]: the rustls configuration (aws-lc-rs provider, optional mutual TLS).

pub mod codes;
pub mod devices;
pub mod pipeline;
pub mod registration_push;
pub mod respond;
pub mod server;
pub mod tls;

/// The three DCC web services a User talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// Send Command: CommandVariants 1, 3, 5, 7.
    SendCommand,
    /// Transform: CommandVariant 4.
    Transform,
    /// Non-Device: CommandVariants 2, 6, 8.
    NonDevice,
}

impl Service {
    /// Every service.
    pub const ALL: [Service; 3] = [Service::SendCommand, Service::Transform, Service::NonDevice];

    /// The DCC Boxed path.
    pub fn path(self) -> &'static str {
        match self {
            Service::SendCommand => "/api/v1/serviceS",
            Service::Transform => "/api/v1/serviceT",
            Service::NonDevice => "/api/v1/serviceD",
        }
    }

    /// Whether a CommandVariant belongs on this service.
    pub fn accepts(self, cv: u8) -> bool {
        match self {
            Service::SendCommand => matches!(cv, 1 | 3 | 5 | 7),
            Service::Transform => cv == 4,
            Service::NonDevice => matches!(cv, 2 | 6 | 8),
        }
    }

    /// Short label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            Service::SendCommand => "send_command",
            Service::Transform => "transform",
            Service::NonDevice => "non_device",
        }
    }
}

/// What the HTTP layer sends back for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The body (signed DUIS XML, or a short text for requests too broken to answer in DUIS).
    pub body: Vec<u8>,
}

/// The request handler the server calls: the H4 pipeline in production, anything in tests.
pub trait Handler: Send + Sync + 'static {
    /// Handles one request body that arrived on `service`.
    fn handle(
        &self,
        service: Service,
        body: actix_web::web::Bytes,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Reply> + Send + '_>>;

    /// Whether the handler can take requests (store open, verifier pool running).
    fn ready(&self) -> bool;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_command_variant_has_exactly_one_service() {
        for cv in 1..=8u8 {
            let n = Service::ALL.iter().filter(|s| s.accepts(cv)).count();
            assert_eq!(n, 1, "CV {cv}");
        }
        assert!(Service::ALL.iter().all(|s| !s.accepts(9)));
    }
}
