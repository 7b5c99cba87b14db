//! The quarantine's admin API, on the DUIS listener, for operators.
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/v1/admin/quarantine[?limit=N]` | `200 {"count": held, "held": [summary…]}`, oldest first (at most `N`, default 1000) |
//! | `GET /api/v1/admin/quarantine/{id}` | `200` a request: the signed request as received (`application/xml`); an alert or a Service Response: its record with its signed messages (`application/json`); `404` |
//! | `POST /api/v1/admin/quarantine/{id}/release` | `200 {"released": id, "outcome": "routed"｜"answered"｜"delivered", …}`; `404` |
//! | `DELETE /api/v1/admin/quarantine/{id}` | `200 {"deleted": id}`; `404` |
//!
//! Each summary holds `id` and `kind` (`request`, `alert` or `response`). A request's: `user`, `srv`,
//! `cv`, `request_id`, `role`, `window`, `reason`, `quarantined_at` (RFC 3339) and
//! `body_bytes`. An alert's: `hub`, `device`, `alert_code`, `counter`, `recipients`,
//! `messages` (how many), `window`, `reason`, `quarantined_at`, and, so that a listing made
//! for requests still reads, `user` (the hub), `srv` (`alert`), `cv` (`0`) and `request_id`
//! (`device:code:counter`). A Service Response's: `hub`, `device` (the one that answered),
//! `user`, `srv` and `request_id` (of the request it answers), `messages` (one), `window`,
//! `reason`, `quarantined_at`. Every request needs `Authorization: Bearer <token>`, else `401`.
//! `503` when the store fails.
//!
//! On release of a request, `outcome` is `routed` when the command went to its device (the
//! device's Service Response follows through delivery) and `answered` when the answer (its
//! response `code`) was handed to delivery at once. On release of an alert or a Service
//! Response, `outcome` is `delivered` and `messages` counts the signed messages handed to
//! delivery, in the same transaction that removes the record (so delivered exactly once).
//!
//! # The token
//!
//! `anomaly.admin_token` when set; otherwise the token in `<data_dir>/anomaly/admin-token`,
//! generated on first start (32 random bytes, base64url, file mode 0600) and named in the
//! start-up output. Only its SHA-256 digest is kept in memory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, web};

use super::quarantine::{self, HeldMessage, Item};
use crate::config::Config;
use crate::delivery::{Delivery, Kind, Outgoing};
use crate::ingress::pipeline::{Pipeline, Released};
use crate::ingress::registration_push::{TokenError, TokenSource, load_token};
use crate::metric_name;
use crate::registration::BearerToken;
use crate::store::Store;

/// The API's base path.
pub const PATH: &str = "/api/v1/admin/quarantine";

/// Most summaries listed by default.
const DEFAULT_LIMIT: usize = 1000;

/// `<data_dir>/anomaly/admin-token`.
pub fn token_file(data_dir: &Path) -> PathBuf {
    data_dir.join("anomaly").join("admin-token")
}

/// The admin token `config` asks for: `anomaly.admin_token`, or the token file in the data
/// folder, generated when missing.
///
/// # Errors
///
/// [`TokenError`].
pub fn admin_token(config: &Config) -> Result<(BearerToken, TokenSource), TokenError> {
    load_token(
        config.anomaly.admin_token.as_deref(),
        "anomaly.admin_token",
        token_file(&config.data_dir),
    )
}

/// The API's state.
pub struct AdminEndpoint {
    store: Arc<Store>,
    pipeline: Arc<Pipeline>,
    delivery: Arc<Delivery>,
    token: BearerToken,
}

impl std::fmt::Debug for AdminEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminEndpoint").finish_non_exhaustive()
    }
}

impl AdminEndpoint {
    /// The API over the quarantine in `store`; released requests run on `pipeline` and
    /// their answers go out through `delivery`. Sets the held-requests gauge from the store.
    pub fn new(
        store: Arc<Store>,
        pipeline: Arc<Pipeline>,
        delivery: Arc<Delivery>,
        token: BearerToken,
    ) -> AdminEndpoint {
        match quarantine::count(&store) {
            #[allow(clippy::cast_precision_loss)]
            Ok(n) => metrics::gauge!(metric_name::QUARANTINE_HELD_MESSAGES).set(n as f64),
            Err(e) => tracing::error!(error = %e, "counting quarantined requests"),
        }
        AdminEndpoint {
            store,
            pipeline,
            delivery,
            token,
        }
    }
}

/// Adds the API's routes.
pub fn configure(cfg: &mut web::ServiceConfig, endpoint: web::Data<AdminEndpoint>) {
    cfg.service(
        web::resource(PATH)
            .app_data(endpoint.clone())
            .route(web::get().to(list)),
    )
    .service(
        web::resource(format!("{PATH}/{{id}}"))
            .app_data(endpoint.clone())
            .route(web::get().to(show))
            .route(web::delete().to(delete)),
    )
    .service(
        web::resource(format!("{PATH}/{{id}}/release"))
            .app_data(endpoint)
            .route(web::post().to(release)),
    );
}

fn json(status: StatusCode, value: &serde_json::Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(value.to_string())
}

fn error(status: StatusCode, message: &str) -> HttpResponse {
    json(status, &serde_json::json!({ "error": message }))
}

/// The `401` to send, when the request does not carry the token.
fn unauthenticated(req: &HttpRequest, endpoint: &AdminEndpoint) -> Option<HttpResponse> {
    let authorization = req.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
    endpoint.token.verify(authorization).err().map(|e| {
        let mut r = error(StatusCode::UNAUTHORIZED, &format!("not authenticated: {e}"));
        r.headers_mut().insert(
            WWW_AUTHENTICATE,
            actix_web::http::header::HeaderValue::from_static("Bearer realm=\"hubgate-admin\""),
        );
        r
    })
}

fn bad_id(raw: &str) -> HttpResponse {
    error(
        StatusCode::NOT_FOUND,
        &format!("{raw:?} is not a quarantine ID"),
    )
}

fn not_held(id: u64) -> HttpResponse {
    error(
        StatusCode::NOT_FOUND,
        &format!("no quarantined request {id}"),
    )
}

fn store_failed(e: &dyn std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %e, "quarantine store");
    error(StatusCode::SERVICE_UNAVAILABLE, "the store failed")
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<usize>,
}

async fn list(
    req: HttpRequest,
    query: web::Query<ListQuery>,
    endpoint: web::Data<AdminEndpoint>,
) -> HttpResponse {
    if let Some(r) = unauthenticated(&req, &endpoint) {
        return r;
    }
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    let state = endpoint.into_inner();
    let found = web::block(move || quarantine::count_and_list(&state.store, limit)).await;
    match found {
        Ok(Ok((count, held))) => json(
            StatusCode::OK,
            &serde_json::json!({
                "count": count,
                "held": held.iter().map(Item::summary).collect::<Vec<_>>(),
            }),
        ),
        Ok(Err(e)) => store_failed(&e),
        Err(e) => store_failed(&e),
    }
}

/// The record id of a `{id}` route, once the caller is authenticated; otherwise the answer.
fn authorised_id(
    req: &HttpRequest,
    id: &str,
    endpoint: &AdminEndpoint,
) -> Result<u64, Box<HttpResponse>> {
    if let Some(r) = unauthenticated(req, endpoint) {
        return Err(Box::new(r));
    }
    id.parse::<u64>().map_err(|_| Box::new(bad_id(id)))
}

async fn show(
    req: HttpRequest,
    id: web::Path<String>,
    endpoint: web::Data<AdminEndpoint>,
) -> HttpResponse {
    let id = match authorised_id(&req, &id, &endpoint) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    let state = endpoint.into_inner();
    match web::block(move || quarantine::get(&state.store, id)).await {
        Ok(Ok(Some(Item::Request(held)))) => match held.body_bytes() {
            Ok(body) => HttpResponse::Ok()
                .content_type("application/xml")
                .body(body),
            Err(e) => store_failed(&e),
        },
        Ok(Ok(Some(Item::Alert(alert)))) => json(StatusCode::OK, &alert.detail()),
        Ok(Ok(Some(Item::Response(response)))) => json(StatusCode::OK, &response.detail()),
        Ok(Ok(None)) => not_held(id),
        Ok(Err(e)) => store_failed(&e),
        Err(e) => store_failed(&e),
    }
}

async fn delete(
    req: HttpRequest,
    id: web::Path<String>,
    endpoint: web::Data<AdminEndpoint>,
) -> HttpResponse {
    let id = match authorised_id(&req, &id, &endpoint) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    let state = endpoint.into_inner();
    match web::block(move || quarantine::take(&state.store, id)).await {
        Ok(Ok(Some(item))) => {
            metrics::counter!(metric_name::QUARANTINE_OUTCOMES_TOTAL, "outcome" => "deleted")
                .increment(1);
            metrics::gauge!(metric_name::QUARANTINE_HELD_MESSAGES).decrement(1.0);
            match item {
                Item::Request(held) => {
                    tracing::info!(id, user = %held.user, srv = %held.srv, "quarantined request deleted");
                }
                Item::Alert(alert) => {
                    tracing::info!(id, hub = %alert.hub, device = %alert.device, code = %alert.alert_code, "quarantined alert deleted");
                }
                Item::Response(response) => {
                    tracing::info!(id, hub = %response.hub, user = %response.user, request_id = %response.request_id, "quarantined Service Response deleted");
                }
            }
            json(StatusCode::OK, &serde_json::json!({ "deleted": id }))
        }
        Ok(Ok(None)) => not_held(id),
        Ok(Err(e)) => store_failed(&e),
        Err(e) => store_failed(&e),
    }
}

async fn release(
    req: HttpRequest,
    id: web::Path<String>,
    endpoint: web::Data<AdminEndpoint>,
) -> HttpResponse {
    let id = match authorised_id(&req, &id, &endpoint) {
        Ok(id) => id,
        Err(r) => return *r,
    };
    let state = endpoint.into_inner();
    // Read and check the record before taking it out: a record that cannot be carried out
    // stays held.
    let reader = Arc::clone(&state);
    let held = match web::block(move || quarantine::get(&reader.store, id)).await {
        Ok(Ok(Some(Item::Request(held)))) => held,
        Ok(Ok(Some(Item::Alert(alert)))) => {
            let what = format!(
                "alert {} {} of hub {}",
                alert.device, alert.alert_code, alert.hub
            );
            return release_messages(&state, id, &alert.messages, "alert", what).await;
        }
        Ok(Ok(Some(Item::Response(response)))) => {
            let what = format!(
                "Service Response to {} from hub {}",
                response.request_id, response.hub
            );
            return release_messages(&state, id, &response.messages, "Service Response", what)
                .await;
        }
        Ok(Ok(None)) => return not_held(id),
        Ok(Err(e)) => return store_failed(&e),
        Err(e) => return store_failed(&e),
    };
    let accepted = match state.pipeline.released_request(&held) {
        Ok(a) => a,
        Err(why) => {
            tracing::error!(id, error = %why, "a quarantined request cannot be read");
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("the held request cannot be read: {why}"),
            );
        }
    };
    let taker = Arc::clone(&state);
    match web::block(move || quarantine::take(&taker.store, id)).await {
        Ok(Ok(Some(_))) => {}
        Ok(Ok(None)) => return not_held(id),
        Ok(Err(e)) => return store_failed(&e),
        Err(e) => return store_failed(&e),
    }
    metrics::counter!(metric_name::QUARANTINE_OUTCOMES_TOTAL, "outcome" => "released").increment(1);
    metrics::gauge!(metric_name::QUARANTINE_HELD_MESSAGES).decrement(1.0);
    tracing::info!(id, user = %held.user, srv = %held.srv, "quarantined request released");
    let user = accepted.request.header.request_id.originator;
    match state.pipeline.release(&accepted).await {
        Released::Routed => json(
            StatusCode::OK,
            &serde_json::json!({ "released": id, "outcome": "routed" }),
        ),
        Released::Answer { code, body } => {
            let delivery = Arc::clone(&state.delivery);
            let submitted = web::block(move || delivery.submit(user, body, Kind::Response)).await;
            match submitted {
                Ok(Ok(_)) => json(
                    StatusCode::OK,
                    &serde_json::json!({
                        "released": id,
                        "outcome": "answered",
                        "code": code.as_str(),
                    }),
                ),
                Ok(Err(e)) => {
                    tracing::error!(id, error = %e, "the answer to a released request could not be queued");
                    error(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &format!(
                            "released and carried out, but its answer could not be queued: {e}"
                        ),
                    )
                }
                Err(e) => store_failed(&e),
            }
        }
    }
}

/// Releases the held alert or Service Response `id` (a `noun`, `what` for the log): its
/// signed `messages` go to delivery in the transaction that removes the record.
async fn release_messages(
    state: &Arc<AdminEndpoint>,
    id: u64,
    messages: &[HeldMessage],
    noun: &'static str,
    what: String,
) -> HttpResponse {
    let messages: Option<Vec<Outgoing>> = messages.iter().map(HeldMessage::outgoing).collect();
    let Some(messages) = messages else {
        tracing::error!(id, "a quarantined {noun}'s messages cannot be read");
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("the held {noun}'s messages cannot be read"),
        );
    };
    let count = messages.len();
    let state = Arc::clone(state);
    let done = web::block(move || {
        let mut gone = false;
        let result = state.delivery.submit_batch_with(messages, |t| {
            if quarantine::take_in(t, id)?.is_none() {
                gone = true;
                return Err(crate::store::StoreError::Refused(format!(
                    "quarantined {noun} {id} is no longer held"
                )));
            }
            Ok(())
        });
        (gone, result)
    })
    .await;
    match done {
        Ok((true, _)) => not_held(id),
        Ok((false, Ok(results))) => {
            for r in results.iter().filter_map(|r| r.as_ref().err()) {
                tracing::error!(id, error = %r, "a released {noun}'s message was refused by delivery");
            }
            metrics::counter!(metric_name::QUARANTINE_OUTCOMES_TOTAL, "outcome" => "released")
                .increment(1);
            metrics::gauge!(metric_name::QUARANTINE_HELD_MESSAGES).decrement(1.0);
            tracing::info!(id, "quarantined {what} released");
            json(
                StatusCode::OK,
                &serde_json::json!({
                    "released": id,
                    "outcome": "delivered",
                    "messages": count,
                }),
            )
        }
        Ok((false, Err(e))) => store_failed(&e),
        Err(e) => store_failed(&e),
    }
}
