//! The Registration Data push endpoint, `POST /api/v1/registration`, on the DUIS listener.
//!
//! A Registration Data Provider sends a full refresh — CSV with `Content-Type: text/csv`, or
//! JSON with `Content-Type: application/json`, in the formats of
//! [`crate::registration::Format`] — with `Authorization: Bearer <token>`. The refresh
//! replaces the records of each fuel the body carries, exactly as
//! [`RegistrationData::ingest`] does: valid rows are applied even when others are rejected,
//! and when any row is rejected no record absent from the body is removed.
//!
//! | answer | when |
//! |---|---|
//! | `200` JSON report | every row was valid; the report says what changed |
//! | `400` JSON report with `"applied": true` | some rows were rejected (listed with line numbers in `errors`); the valid rows **were** applied |
//! | `400` `{"applied": false, "error": …}` | the body was refused as a whole (bad CSV header, JSON that is not an array, no records); nothing changed |
//! | `401` | no `Authorization: Bearer`, or the wrong token |
//! | `413` | the body is larger than `registration.max_push_bytes` |
//! | `415` | another `Content-Type` |
//! | `503` | the changes could not be stored (they are in force in memory until a restart) |
//!
//! The report is [`crate::registration::RefreshSummary`] (counts, with the first 20 added,
//! removed and modified records) plus `applied` and `errors` (every rejected row kept by the
//! registration limits, each `{"line", "field", "reason"}`).
//!
//! Each applied push is written to the store's `registration` table (one transaction)
//! before the answer, and `hubgate serve` loads that table at start, so an acknowledged
//! push survives a restart. Pushes are applied one at a time.
//!
//! # The token
//!
//! `registration.push_token` when set; otherwise the token in
//! `<data_dir>/registration/push-token`, generated on first start (32 random bytes,
//! base64url, file mode 0600) and named in the start-up summary. Either way only its SHA-256
//! digest is kept in memory ([`BearerToken`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::config::Config;
use crate::metric_name;
use crate::registration::{BearerToken, Format, RegistrationData, RowError, persist};
use crate::store::Store;

/// The endpoint's path.
pub const PATH: &str = "/api/v1/registration";

/// Records of each kind listed in a report.
const SAMPLE: usize = 20;

/// Most of a refused request's body read (and dropped) before answering, so that the client,
/// still sending, gets the answer rather than a reset stream.
const DRAIN_BYTES: usize = 1 << 20;
/// Longest time spent reading that body.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// Where the push token came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `registration.push_token`.
    Config,
    /// A token file in the data folder; `created` when this start generated it.
    File {
        /// The file.
        path: PathBuf,
        /// Whether it was generated now.
        created: bool,
    },
}

/// Why the push token could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The token file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The token (configured or in the file) is too weak.
    #[error("{where_}: {source}")]
    Weak {
        /// The setting or file.
        where_: String,
        /// Why.
        source: crate::registration::AuthError,
    },
    /// No random bytes could be had.
    #[error("generating the push token: no randomness available")]
    Random,
}

/// `<data_dir>/registration/push-token`.
pub fn token_file(data_dir: &Path) -> PathBuf {
    data_dir.join("registration").join("push-token")
}

/// The push token `config` asks for: `registration.push_token`, or the token file in the
/// data folder, generated when missing.
///
/// # Errors
///
/// [`TokenError`].
pub fn push_token(config: &Config) -> Result<(BearerToken, TokenSource), TokenError> {
    load_token(
        config.registration.push_token.as_deref(),
        "registration.push_token",
        token_file(&config.data_dir),
    )
}

/// A bearer token: `configured` (the value of the setting named `setting`) when set;
/// otherwise the token in the file at `path`, generated when missing (32 random bytes,
/// base64url, owner-only file).
///
/// # Errors
///
/// [`TokenError`].
pub(crate) fn load_token(
    configured: Option<&str>,
    setting: &str,
    path: PathBuf,
) -> Result<(BearerToken, TokenSource), TokenError> {
    if let Some(t) = configured {
        let token = BearerToken::new(t).map_err(|source| TokenError::Weak {
            where_: setting.into(),
            source,
        })?;
        return Ok((token, TokenSource::Config));
    }
    let io = |source| TokenError::Io {
        path: path.clone(),
        source,
    };
    let (text, created) = match std::fs::read_to_string(&path) {
        Ok(text) => (text, false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; 32];
            aws_lc_rs::rand::fill(&mut bytes).map_err(|_| TokenError::Random)?;
            use base64::Engine as _;
            let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io)?;
            }
            write_secret(&path, format!("{text}\n").as_bytes()).map_err(io)?;
            (text, true)
        }
        Err(e) => return Err(io(e)),
    };
    let token = BearerToken::new(text.trim()).map_err(|source| TokenError::Weak {
        where_: path.display().to_string(),
        source,
    })?;
    Ok((token, TokenSource::File { path, created }))
}

/// Creates `path` readable by its owner only.
fn write_secret(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut f = options.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// The endpoint's state.
pub struct RegistrationPush {
    data: Arc<RegistrationData>,
    store: Arc<Store>,
    token: BearerToken,
    max_body_bytes: usize,
    one_at_a_time: tokio::sync::Semaphore,
}

impl std::fmt::Debug for RegistrationPush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationPush")
            .field("records", &self.data.len())
            .field("max_body_bytes", &self.max_body_bytes)
            .finish_non_exhaustive()
    }
}

impl RegistrationPush {
    /// Pushes into `data`, persisted in `store`, authenticated by `token`, bodies up to
    /// `max_body_bytes`.
    pub fn new(
        data: Arc<RegistrationData>,
        store: Arc<Store>,
        token: BearerToken,
        max_body_bytes: usize,
    ) -> Self {
        RegistrationPush {
            data,
            store,
            token,
            max_body_bytes,
            one_at_a_time: tokio::sync::Semaphore::new(1),
        }
    }
}

/// Adds the endpoint's route.
pub fn configure(cfg: &mut web::ServiceConfig, endpoint: web::Data<RegistrationPush>) {
    cfg.service(
        web::resource(PATH)
            .app_data(endpoint)
            .route(web::post().to(push)),
    );
}

#[derive(serde::Serialize)]
struct Applied {
    applied: bool,
    #[serde(flatten)]
    summary: crate::registration::RefreshSummary,
    errors: Vec<RowError>,
}

fn answer(
    status: StatusCode,
    outcome: &'static str,
    value: &impl serde::Serialize,
) -> HttpResponse {
    metrics::counter!(metric_name::REGISTRATION_PUSHES_TOTAL, "outcome" => outcome).increment(1);
    HttpResponse::build(status)
        .content_type("application/json")
        .body(serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec()))
}

fn refused(status: StatusCode, outcome: &'static str, message: &str) -> HttpResponse {
    answer(
        status,
        outcome,
        &serde_json::json!({ "applied": false, "error": message }),
    )
}

/// Reads and drops up to [`DRAIN_BYTES`] of a body that will not be used.
async fn drain(payload: web::Payload) {
    let _ = actix_web::rt::time::timeout(DRAIN_TIME, payload.to_bytes_limited(DRAIN_BYTES)).await;
}

async fn push(
    req: HttpRequest,
    payload: web::Payload,
    endpoint: web::Data<RegistrationPush>,
) -> HttpResponse {
    let authorization = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .map(actix_web::http::header::HeaderValue::as_bytes);
    if let Err(e) = endpoint.token.verify(authorization) {
        drain(payload).await;
        let mut r = refused(
            StatusCode::UNAUTHORIZED,
            "unauthorised",
            &format!("not authenticated: {e}"),
        );
        r.headers_mut().insert(
            WWW_AUTHENTICATE,
            actix_web::http::header::HeaderValue::from_static("Bearer realm=\"hubgate\""),
        );
        return r;
    }
    let mime = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let format = match mime.as_str() {
        "text/csv" => Format::Csv,
        "application/json" => Format::Json,
        _ => {
            drain(payload).await;
            return refused(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "refused",
                "Content-Type must be text/csv or application/json",
            );
        }
    };
    let state = endpoint.into_inner();
    let Ok(_turn) = state.one_at_a_time.acquire().await else {
        return refused(StatusCode::SERVICE_UNAVAILABLE, "failed", "shutting down");
    };
    let limit = state.max_body_bytes;
    let body = match payload.to_bytes_limited(limit).await {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            return refused(
                StatusCode::BAD_REQUEST,
                "refused",
                &format!("reading the body: {e}"),
            );
        }
        Err(_) => {
            return refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                "refused",
                &format!("body exceeds the limit of {limit} bytes"),
            );
        }
    };
    let worker = Arc::clone(&state);
    let applied = web::block(move || {
        let report = worker.data.ingest(&body, format)?;
        let stored = match worker.store.db() {
            Ok(db) => persist::save_changes(&db, &report.changes()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        Ok::<_, crate::registration::IngestError>((report, stored))
    })
    .await;
    match applied {
        Ok(Ok((report, stored))) => {
            if let Err(e) = stored {
                tracing::error!("registration push applied but not stored: {e:#}");
                return refused(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "failed",
                    &format!("applied, but storing failed (lost on restart): {e}"),
                );
            }
            tracing::info!(
                added = report.added.len(),
                removed = report.removed.len(),
                modified = report.modified.len(),
                rejected = report.rejected_total,
                "registration data pushed"
            );
            let (status, outcome) = if report.rejected_total == 0 {
                (StatusCode::OK, "applied")
            } else {
                (StatusCode::BAD_REQUEST, "partial")
            };
            let body = Applied {
                applied: true,
                summary: report.summary(SAMPLE),
                errors: report.rejected,
            };
            answer(status, outcome, &body)
        }
        Ok(Err(e)) => refused(StatusCode::BAD_REQUEST, "refused", &e.to_string()),
        Err(e) => {
            tracing::error!("registration push: {e}");
            refused(StatusCode::SERVICE_UNAVAILABLE, "failed", "internal error")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_comes_from_configuration_or_a_generated_file() {
        let dir = std::env::temp_dir().join(format!("hubgate-push-token-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut config = Config {
            data_dir: dir.clone(),
            ..Config::default()
        };
        let (token, source) = push_token(&config).unwrap();
        let path = token_file(&dir);
        assert_eq!(
            source,
            TokenSource::File {
                path: path.clone(),
                created: true
            }
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim().len(), 43);
        assert!(
            token
                .verify(Some(format!("Bearer {}", text.trim()).as_bytes()))
                .is_ok()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "readable by its owner only: {mode:o}");
        }
        // The second start reads the same token.
        let (again, source) = push_token(&config).unwrap();
        assert!(matches!(source, TokenSource::File { created: false, .. }));
        assert!(
            again
                .verify(Some(format!("Bearer {}", text.trim()).as_bytes()))
                .is_ok()
        );
        // A configured token wins.
        config.registration.push_token = Some("configured-token-0123456789abcdefghij".into());
        let (t, source) = push_token(&config).unwrap();
        assert_eq!(source, TokenSource::Config);
        assert!(
            t.verify(Some(format!("Bearer {}", text.trim()).as_bytes()))
                .is_err()
        );
        config.registration.push_token = Some("short".into());
        assert!(matches!(push_token(&config), Err(TokenError::Weak { .. })));
        // A damaged file is reported, not replaced.
        config.registration.push_token = None;
        std::fs::write(&path, "x").unwrap();
        assert!(matches!(push_token(&config), Err(TokenError::Weak { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
