//! The demand endpoints.
//!
//! On the DUIS listener (HTTPS), forecasts:
//!
//! | request | answer |
//! |---|---|
//! | `POST /api/v1/forecasts` (JSON, [`super::forecast`]) | `200 {"user", "months": [YYYY-MM…], "stored": 6}`; `400 {"error": "FIELD: why", "field": FIELD}`; `403` a User naming another User |
//! | `GET /api/v1/forecasts[?user=ID]` | `200 {"forecasts": [{"user", "month", "requests", "submitted_at", "submitted_by"}…]}` |
//!
//! Who may submit and read:
//!
//! - A **User**, identified as on the pull endpoint (`crate::delivery::identity`): by its
//!   mutual-TLS client certificate, or `Authorization: Bearer <users.<id>.pull_token>`. It
//!   submits and reads its own forecasts only: the forecast is for the User that
//!   authenticated, and naming another User is refused (`403`).
//! - An **operator** with the admin bearer token of the quarantine API
//!   (`anomaly.admin_token`, or `<data_dir>/anomaly/admin-token`): for any User, named in
//!   the forecast's `user` (DCC staff entering a forecast a User sent by other means).
//!
//! Anything else gets `401` with `WWW-Authenticate: Bearer`, before the body is read. A body
//! over [`MAX_FORECAST_BYTES`] gets `413`. `503` when the store fails.
//!
//! On the metrics listener, like the performance report and with the same caveat (not
//! authenticated: the metrics listener belongs on an operators' network):
//!
//! | request | answer |
//! |---|---|
//! | `GET /api/v1/reports/demand[?month=YYYY-MM][&user=ID][&format=text]` | `200` the [`super::report::Report`] as JSON (default: the current month), or as a text table; `400` a bad month or User |

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::forecast::{self, Submitter};
use super::{Demand, store_forecast};
use crate::delivery::identity::{PullTokens, identify};
use crate::performance::Month;
use crate::registration::BearerToken;
use hubgate_protocol::hex;

/// Forecasts, on the DUIS listener.
pub const FORECASTS_PATH: &str = "/api/v1/forecasts";
/// The report, on the metrics listener.
pub const REPORT_PATH: &str = "/api/v1/reports/demand";
/// Largest forecast body accepted.
pub const MAX_FORECAST_BYTES: usize = 64 << 10;

/// The most of a forecast body read before answering (a larger one is answered 413 at once).
const READ_AT_MOST: usize = 1 << 20;

/// The forecast endpoint's state.
pub struct ForecastEndpoint {
    demand: Arc<Demand>,
    admin: BearerToken,
    users: PullTokens,
}

impl std::fmt::Debug for ForecastEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForecastEndpoint").finish_non_exhaustive()
    }
}

impl ForecastEndpoint {
    /// Forecasts stored through `demand`'s store; operators authenticate with `admin`,
    /// Users with their client certificate or one of `users`.
    pub fn new(demand: Arc<Demand>, admin: BearerToken, users: PullTokens) -> ForecastEndpoint {
        ForecastEndpoint {
            demand,
            admin,
            users,
        }
    }
}

/// Adds the forecast routes (DUIS listener).
pub fn configure_forecasts(cfg: &mut web::ServiceConfig, endpoint: web::Data<ForecastEndpoint>) {
    cfg.service(
        web::resource(FORECASTS_PATH)
            .app_data(endpoint)
            .route(web::post().to(submit))
            .route(web::get().to(list)),
    );
}

/// Adds the report route (metrics listener).
pub fn configure_report(cfg: &mut web::ServiceConfig, demand: web::Data<Demand>) {
    cfg.service(
        web::resource(REPORT_PATH)
            .app_data(demand)
            .route(web::get().to(report)),
    );
}

fn json(status: StatusCode, value: &serde_json::Value) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(value.to_string())
}

fn error(status: StatusCode, message: &str) -> HttpResponse {
    json(status, &serde_json::json!({ "error": message }))
}

fn store_failed(e: &dyn std::fmt::Display) -> HttpResponse {
    tracing::error!(error = %e, "demand store");
    error(StatusCode::SERVICE_UNAVAILABLE, "the store failed")
}

/// Who is calling, or the `401`.
fn caller(req: &HttpRequest, endpoint: &ForecastEndpoint) -> Result<Submitter, Box<HttpResponse>> {
    let authorization = req.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
    if endpoint.admin.verify(authorization).is_ok() {
        return Ok(Submitter::Operator);
    }
    match identify(req, &endpoint.users) {
        Ok(user) => Ok(Submitter::User(user)),
        Err(e) => {
            let mut r = error(StatusCode::UNAUTHORIZED, &format!("not authenticated: {e}"));
            r.headers_mut().insert(
                WWW_AUTHENTICATE,
                actix_web::http::header::HeaderValue::from_static(
                    "Bearer realm=\"hubgate-forecasts\"",
                ),
            );
            Err(Box::new(r))
        }
    }
}

async fn submit(
    req: HttpRequest,
    payload: web::Payload,
    endpoint: web::Data<ForecastEndpoint>,
) -> HttpResponse {
    // The caller is authenticated before its body is read: an unauthenticated client makes
    // the gateway hold none of its bytes (the connection is closed with the 401).
    let by = match caller(&req, &endpoint) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    // A body somewhat over the limit is still read to its end before the 413, so that the
    // client gets the answer rather than a reset stream; past `READ_AT_MOST` it is not.
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the body exceeds {MAX_FORECAST_BYTES} bytes"),
        )
    };
    let body = match payload.to_bytes_limited(READ_AT_MOST).await {
        Ok(Ok(b)) if b.len() <= MAX_FORECAST_BYTES => b,
        Ok(Ok(_)) | Err(_) => return too_large(),
        Ok(Err(e)) => return error(StatusCode::BAD_REQUEST, &format!("reading the body: {e}")),
    };
    let demand = Arc::clone(&endpoint.demand);
    let parsed = forecast::parse(&body, by, demand.current_month(), demand.now_ms());
    let f = match parsed {
        Ok(f) => f,
        Err(e) => {
            let status = if e.forbidden {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::BAD_REQUEST
            };
            return json(
                status,
                &serde_json::json!({ "error": e.to_string(), "field": e.field }),
            );
        }
    };
    let months: Vec<String> = f.months.iter().map(|(m, _)| m.to_string()).collect();
    let user = hex::eui_duis(&f.user);
    match web::block(move || store_forecast(demand.store(), &f)).await {
        Ok(Ok(())) => {
            tracing::info!(%user, first = %months[0], "forecast stored");
            json(
                StatusCode::OK,
                &serde_json::json!({ "user": user, "stored": months.len(), "months": months }),
            )
        }
        Ok(Err(e)) => store_failed(&e),
        Err(e) => store_failed(&e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    user: Option<String>,
}

async fn list(
    req: HttpRequest,
    query: Result<web::Query<ListQuery>, actix_web::Error>,
    endpoint: web::Data<ForecastEndpoint>,
) -> HttpResponse {
    let by = match caller(&req, &endpoint) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    let asked = match query.map(web::Query::into_inner) {
        Ok(ListQuery { user: None }) => None,
        Ok(ListQuery { user: Some(u) }) => match hex::parse_eui(&u) {
            Some(u) => Some(u),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("user: {u:?} is not a User ID"),
                );
            }
        },
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("query: {e}")),
    };
    let only = match (by, asked) {
        (Submitter::Operator, a) => a,
        (Submitter::User(me), None) => Some(me),
        (Submitter::User(me), Some(u)) if u == me => Some(me),
        (Submitter::User(_), Some(_)) => {
            return error(
                StatusCode::FORBIDDEN,
                "user: a User reads its own forecasts only",
            );
        }
    };
    let demand = Arc::clone(&endpoint.demand);
    match web::block(move || super::read_ledger(demand.store())).await {
        Ok(Ok(ledger)) => {
            let forecasts: Vec<serde_json::Value> = ledger
                .forecasts
                .iter()
                .filter(|((u, _), _)| only.is_none_or(|o| o == *u))
                .map(|((u, m), s)| {
                    serde_json::json!({
                        "user": hex::eui_duis(u),
                        "month": m.to_string(),
                        "requests": s.requests,
                        "submitted_at": s.submitted_at,
                        "submitted_by": s.submitted_by,
                    })
                })
                .collect();
            json(
                StatusCode::OK,
                &serde_json::json!({ "forecasts": forecasts }),
            )
        }
        Ok(Err(e)) => store_failed(&e),
        Err(e) => store_failed(&e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    month: Option<String>,
    user: Option<String>,
    format: Option<String>,
}

async fn report(
    query: Result<web::Query<ReportQuery>, actix_web::Error>,
    demand: web::Data<Demand>,
) -> HttpResponse {
    let q = match query {
        Ok(q) => q.into_inner(),
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("query: {e}")),
    };
    let month = match q.month.as_deref().map(Month::parse) {
        None => demand.current_month(),
        Some(Ok(m)) => m,
        Some(Err(e)) => return error(StatusCode::BAD_REQUEST, &format!("month: {e}")),
    };
    let user = match q.user.as_deref() {
        None => None,
        Some(u) => match hex::parse_eui(u) {
            Some(u) => Some(u),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("user: {u:?} is not a User ID"),
                );
            }
        },
    };
    let text = match q.format.as_deref() {
        None | Some("json") => false,
        Some("text") => true,
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("format: {other:?} is not json or text"),
            );
        }
    };
    let d = demand.into_inner();
    match web::block(move || d.report(month, user)).await {
        Ok(Ok(r)) if text => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(r.render_table()),
        Ok(Ok(r)) => json(StatusCode::OK, &r.to_json()),
        Ok(Err(e)) => store_failed(&e),
        Err(e) => store_failed(&e),
    }
}
