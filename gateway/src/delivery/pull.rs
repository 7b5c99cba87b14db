//! The pull endpoint, on the DUIS listener: a User takes the messages kept for it and
//! acknowledges them.
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/v1/responses[?limit=N]` | `200` JSON: the User's oldest kept messages, at most `N` (default 100, at most 1000) and at most 16 MiB of XML (always at least one message when there is one) |
//! | `POST /api/v1/responses/ack?through=N` | `200` `{"removed": k}`: removes the User's kept messages with sequence ≤ N |
//! | `DELETE /api/v1/responses/N` | `204`, or `404` when the User has no kept message N |
//!
//! A page looks like this (`submitted` is when the gateway produced the message, `reason`
//! why it was kept: `no_endpoint` or `retries_exhausted`):
//!
//! ```json
//! {"messages": [{"sequence": 7, "kind": "response", "reason": "no_endpoint",
//!                "submitted": "2025-01-01T00:00:00.000Z", "xml": "<sr:Response …>…</sr:Response>"}],
//!  "more": false}
//! ```
//!
//! Every request must identify a User ([`super::identity`]): by the mutual-TLS client
//! certificate, or `Authorization: Bearer <users.<id>.pull_token>`. Otherwise the answer is
//! `401` with `WWW-Authenticate: Bearer`. A User only ever sees and acknowledges its own
//! messages. Answers are JSON with `Cache-Control: no-store`; errors are
//! `{"error": "…"}`.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, web};

use super::identity::{PullTokens, identify};
use super::{Delivery, KeptMessage};
use crate::clock::rfc3339_ms;

/// The endpoint's path.
pub const PATH: &str = "/api/v1/responses";
/// Messages per page when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 100;
/// The largest `limit`.
pub const MAX_LIMIT: usize = 1000;
/// Most bytes of XML in one page (at least one message is always given).
pub const MAX_PAGE_BYTES: usize = 16 << 20;

/// The pull endpoint's state: the outbox and the Users' tokens.
#[derive(Debug)]
pub struct PullEndpoint {
    delivery: Arc<Delivery>,
    tokens: PullTokens,
}

impl PullEndpoint {
    /// The endpoint over `delivery`, accepting `tokens` from clients without a client
    /// certificate naming a User.
    pub fn new(delivery: Arc<Delivery>, tokens: PullTokens) -> Self {
        PullEndpoint { delivery, tokens }
    }
}

/// Adds the endpoint's routes.
pub fn configure(cfg: &mut web::ServiceConfig, endpoint: web::Data<PullEndpoint>) {
    cfg.service(
        web::resource(PATH)
            .app_data(endpoint.clone())
            .route(web::get().to(list)),
    )
    .service(
        web::resource(format!("{PATH}/ack"))
            .app_data(endpoint.clone())
            .route(web::post().to(acknowledge_through)),
    )
    .service(
        web::resource(format!("{PATH}/{{sequence}}"))
            .app_data(endpoint)
            .route(web::delete().to(acknowledge_one)),
    );
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<usize>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AckQuery {
    through: u64,
}

#[derive(serde::Serialize)]
struct Page {
    messages: Vec<PageMessage>,
    more: bool,
}

#[derive(serde::Serialize)]
struct PageMessage {
    sequence: u64,
    kind: &'static str,
    reason: &'static str,
    submitted: String,
    xml: String,
}

impl From<KeptMessage> for PageMessage {
    fn from(m: KeptMessage) -> Self {
        PageMessage {
            sequence: m.sequence,
            kind: m.kind.label(),
            reason: m.reason.label(),
            submitted: rfc3339_ms(m.submitted_ms),
            // Bodies are checked to be UTF-8 when submitted.
            xml: String::from_utf8(m.body)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        }
    }
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((CACHE_CONTROL, "no-store"))
        .content_type("application/json")
        .body(serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec()))
}

fn error(status: StatusCode, message: &str) -> HttpResponse {
    json(status, &serde_json::json!({ "error": message }))
}

fn unauthorised(why: &crate::registration::AuthError) -> HttpResponse {
    let mut r = error(
        StatusCode::UNAUTHORIZED,
        &format!("not authenticated: {why} (present a client certificate or a pull token)"),
    );
    r.headers_mut().insert(
        WWW_AUTHENTICATE,
        actix_web::http::header::HeaderValue::from_static("Bearer realm=\"hubgate\""),
    );
    r
}

fn internal(e: &dyn std::fmt::Display) -> HttpResponse {
    tracing::error!("pull endpoint: {e:#}");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the message store is unavailable; try again later",
    )
}

async fn list(
    req: HttpRequest,
    endpoint: web::Data<PullEndpoint>,
    query: Result<web::Query<ListQuery>, actix_web::Error>,
) -> HttpResponse {
    let user = match identify(&req, &endpoint.tokens) {
        Ok(u) => u,
        Err(e) => return unauthorised(&e),
    };
    let limit = match query {
        Ok(q) => q.limit.unwrap_or(DEFAULT_LIMIT),
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("query: {e}")),
    };
    if !(1..=MAX_LIMIT).contains(&limit) {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("limit must be 1 to {MAX_LIMIT}"),
        );
    }
    let delivery = Arc::clone(&endpoint.delivery);
    match web::block(move || delivery.pull(user, limit, MAX_PAGE_BYTES)).await {
        Ok(Ok((messages, more))) => json(
            StatusCode::OK,
            &Page {
                messages: messages.into_iter().map(PageMessage::from).collect(),
                more,
            },
        ),
        Ok(Err(e)) => internal(&e),
        Err(e) => internal(&e),
    }
}

async fn acknowledge_through(
    req: HttpRequest,
    endpoint: web::Data<PullEndpoint>,
    query: Result<web::Query<AckQuery>, actix_web::Error>,
) -> HttpResponse {
    let user = match identify(&req, &endpoint.tokens) {
        Ok(u) => u,
        Err(e) => return unauthorised(&e),
    };
    let through = match query {
        Ok(q) => q.through,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("expected ?through=<sequence>: {e}"),
            );
        }
    };
    let delivery = Arc::clone(&endpoint.delivery);
    match web::block(move || delivery.acknowledge_through(user, through)).await {
        Ok(Ok(removed)) => json(StatusCode::OK, &serde_json::json!({ "removed": removed })),
        Ok(Err(e)) => internal(&e),
        Err(e) => internal(&e),
    }
}

async fn acknowledge_one(
    req: HttpRequest,
    endpoint: web::Data<PullEndpoint>,
    sequence: web::Path<String>,
) -> HttpResponse {
    let user = match identify(&req, &endpoint.tokens) {
        Ok(u) => u,
        Err(e) => return unauthorised(&e),
    };
    let Ok(sequence) = sequence.parse::<u64>() else {
        return error(StatusCode::BAD_REQUEST, "the sequence must be a number");
    };
    let delivery = Arc::clone(&endpoint.delivery);
    match web::block(move || delivery.acknowledge(user, sequence)).await {
        Ok(Ok(true)) => HttpResponse::NoContent()
            .insert_header((CACHE_CONTROL, "no-store"))
            .finish(),
        Ok(Ok(false)) => error(
            StatusCode::NOT_FOUND,
            &format!("no kept message {sequence} for this User"),
        ),
        Ok(Err(e)) => internal(&e),
        Err(e) => internal(&e),
    }
}
