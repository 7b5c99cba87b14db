//! The gateway's configuration: one typed tree, read from a TOML file and then overridden by
//! `HUBGATE_*` environment variables. Every field has a documented default, so an empty file
//! (or none) is a working configuration; [`Config::example_toml`] writes the defaults out as
//! a commented example (`hubgate config example`).
//!
//! Build it once with [`Config::load`] and pass it around as `Arc<Config>`.
//!
//! # Environment variables
//!
//! Every field can be set with a variable named after its path: `HUBGATE_` and the path in
//! upper case, with `__` between a section and its key.
//!
//! | variable | field |
//! |---|---|
//! | `HUBGATE_DATA_DIR` | `data_dir` |
//! | `HUBGATE_LISTEN` | `listen` |
//! | `HUBGATE_METRICS_LISTEN` | `metrics_listen` |
//! | `HUBGATE_PLAIN_HTTP_LISTEN` | `plain_http_listen` |
//! | `HUBGATE_SMKI_DIR` | `smki_dir` |
//! | `HUBGATE_TLS__ENABLED`, `HUBGATE_TLS__CERT`, … | `tls.enabled`, `tls.cert`, … |
//! | `HUBGATE_TLS_MUTUAL` (short for `HUBGATE_TLS__MUTUAL_TLS`) | `tls.mutual_tls` |
//! | `HUBGATE_LOG_JSON` (short for `HUBGATE_LOGGING__JSON`) | `logging.json` |
//! | `HUBGATE_LOG_LEVEL` (short for `HUBGATE_LOGGING__LEVEL`) | `logging.level` |
//! | `HUBGATE_VERIFIER_POOL__THREADS`, … | `verifier_pool.threads`, … |
//! | `HUBGATE_CLOCK__PINNED` | `clock.pinned` |
//! | `HUBGATE_SMWAN__LISTEN`, `HUBGATE_SMWAN__DEVICE_KEYS` | `smwan.listen`, `smwan.device_keys` |
//! | `HUBGATE_DELIVERY__RETRIES`, `HUBGATE_DELIVERY__CA`, `HUBGATE_DELIVERY__DEFAULT_ENDPOINT`, … | `delivery.retries`, `delivery.ca`, `delivery.default_endpoint`, … |
//! | `HUBGATE_REGISTRATION__PUSH_TOKEN`, … | `registration.push_token`, … |
//! | `HUBGATE_ANOMALY__ENABLED`, `HUBGATE_ANOMALY__OVERRIDES`, `HUBGATE_ANOMALY__ADMIN_TOKEN`, … | `anomaly.enabled`, `anomaly.overrides`, `anomaly.admin_token`, … |
//! | `HUBGATE_ALERTS__THROTTLE_WINDOW_MS`, `HUBGATE_ALERTS__THROTTLE_MAX_TRACKED` | `alerts.throttle_window_ms`, `alerts.throttle_max_tracked` |
//! | `HUBGATE_SCHEDULES__MAX_PER_USER`, `HUBGATE_SCHEDULES__TICK_MS` | `schedules.max_per_user`, `schedules.tick_ms` |
//! | `HUBGATE_CLOCK__FOLLOW_FILE` | `clock.follow_file` |
//! | `HUBGATE_PERFORMANCE__ON_DEMAND_TARGET_MS`, `HUBGATE_PERFORMANCE__FLUSH_INTERVAL_MS` | `performance.on_demand_target_ms`, `performance.flush_interval_ms` |
//! | `HUBGATE_USERS__<USER ID>__SUSPENDED`, `…__DELIVERY_ENDPOINT`, `…__PULL_TOKEN` | `users.<User ID>.…` |
//!
//! Booleans accept `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`. An empty value unsets an
//! optional field. `HUBGATE_CONFIG` (the config file's path, read by the binary) and the test
//! tools' `HUBGATE_CONFORMANCE` and `HUBGATE_SKIP_INTEROP` are not fields and are ignored
//! here; any other unknown `HUBGATE_*` variable is an error, so a typo
//! does not go unnoticed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Variables that start with `HUBGATE_` but are not configuration fields.
/// `HUBGATE_CONFORMANCE` and `HUBGATE_SKIP_INTEROP` belong to the test tools.
pub const IGNORED_VARIABLES: [&str; 3] = [
    "HUBGATE_CONFIG",
    "HUBGATE_CONFORMANCE",
    "HUBGATE_SKIP_INTEROP",
];

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not fit the tree (the message names the key and
    /// position).
    #[error("{}: {message}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong, from the TOML reader.
        message: String,
    },
    /// An environment variable is unknown or its value does not fit its field.
    #[error("{variable}: {message}")]
    Env {
        /// The variable.
        variable: String,
        /// What is wrong.
        message: String,
    },
    /// A value that parses but is not acceptable.
    #[error("{field}: {message}")]
    Invalid {
        /// The field's path (`verifier_pool.max_batch`).
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Folder for the durable store, the local test PKI (`pki/`) and the TLS files (`tls/`).
    /// Default `./hubgate-data`.
    pub data_dir: PathBuf,
    /// The DUIS listener (HTTPS unless `tls.enabled` is false). Default `127.0.0.1:8079`, the
    /// DCC Boxed port.
    pub listen: SocketAddr,
    /// The Prometheus metrics listener (plain HTTP). Default `127.0.0.1:9464`.
    pub metrics_listen: SocketAddr,
    /// An additional plain-HTTP DUIS listener, for tools without TLS. Default: none.
    pub plain_http_listen: Option<SocketAddr>,
    /// A DCC Boxed key folder (certificates, keys, `keystore.json`) to load instead of the
    /// local test PKI. Default: none (use the local test PKI in `data_dir`).
    pub smki_dir: Option<PathBuf>,
    /// TLS of the DUIS listener.
    pub tls: TlsConfig,
    /// Per-User settings, keyed by User ID (`"90-B3-D5-1F-30-01-00-00"` or
    /// `"90B3D51F30010000"`). Default: none.
    pub users: BTreeMap<String, UserOverride>,
    /// The signature verifier pool.
    pub verifier_pool: VerifierPoolConfig,
    /// Bounds on incoming requests.
    pub limits: LimitsConfig,
    /// Logging.
    pub logging: LoggingConfig,
    /// Delivery of responses and alerts to Users.
    pub delivery: DeliveryConfig,
    /// The Registration Data push endpoint.
    pub registration: RegistrationConfig,
    /// The local test PKI.
    pub pki: PkiConfig,
    /// In-process emulated meters.
    pub emulation: EmulationConfig,
    /// SR 11.1 firmware distribution (see `hubgate_gateway::firmware`).
    pub firmware: crate::firmware::FirmwareConfig,
    /// Device commands and their answers.
    pub routing: RoutingConfig,
    /// The SMWAN link to `hil-rig` processes (QUIC).
    pub smwan: SmwanConfig,
    /// The clock.
    pub clock: ClockConfig,
    /// Anomaly detection (H4 check 7) and the quarantine.
    pub anomaly: AnomalyConfig,
    /// Alerts to Users: alert-storm throttling.
    pub alerts: AlertsConfig,
    /// The SEC Code Performance Measures tally.
    pub performance: PerformanceConfig,
    /// DSP schedules (SR 5.1–5.3).
    pub schedules: SchedulesConfig,
    /// The store's page cache in MiB (the operating system caches the rest of the file).
    /// Default 64.
    pub store_cache_mib: u64,
    /// Writes waiting for the store's committer (request acceptances, quarantined requests);
    /// beyond it requests are refused with `E44` (HTTP 503). Default 16384.
    pub store_write_queue: usize,
    /// While the gateway is busy, how long (µs) the store's committer lets a batch of writes
    /// grow after its first write before committing them together; an idle gateway commits
    /// at once. `0` never waits. Default 1000.
    pub store_commit_delay_us: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./hubgate-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8079)),
            metrics_listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
            plain_http_listen: None,
            smki_dir: None,
            tls: TlsConfig::default(),
            users: BTreeMap::new(),
            verifier_pool: VerifierPoolConfig::default(),
            limits: LimitsConfig::default(),
            logging: LoggingConfig::default(),
            delivery: DeliveryConfig::default(),
            registration: RegistrationConfig::default(),
            pki: PkiConfig::default(),
            emulation: EmulationConfig::default(),
            firmware: crate::firmware::FirmwareConfig::default(),
            routing: RoutingConfig::default(),
            smwan: SmwanConfig::default(),
            clock: ClockConfig::default(),
            anomaly: AnomalyConfig::default(),
            alerts: AlertsConfig::default(),
            performance: PerformanceConfig::default(),
            schedules: SchedulesConfig::default(),
            store_cache_mib: 64,
            store_write_queue: 16_384,
            store_commit_delay_us: 1000,
        }
    }
}

/// DSP schedules (see `hubgate_gateway::schedules`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulesConfig {
    /// Most schedules one User may hold; a 5.1 beyond it is refused (`E050103`). Default
    /// `1000`.
    pub max_per_user: u64,
    /// How often the runner looks for due schedules, in milliseconds. Default `1000`.
    pub tick_ms: u64,
}

impl Default for SchedulesConfig {
    fn default() -> Self {
        SchedulesConfig {
            max_per_user: 1000,
            tick_ms: 1000,
        }
    }
}

/// The SEC Code Performance Measures tally (see `hubgate_gateway::performance`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PerformanceConfig {
    /// Target Response Time of on-demand Service Responses, in milliseconds, against which
    /// the monthly tally counts them within or outside. Default `30000` (SEC H3.20); tests
    /// set it small.
    pub on_demand_target_ms: u64,
    /// How often the tally is written to the store, in milliseconds; a crash loses at most
    /// the answers counted in one interval. Default `5000`.
    pub flush_interval_ms: u64,
}

impl Default for PerformanceConfig {
    fn default() -> Self {
        PerformanceConfig {
            on_demand_target_ms: 30_000,
            flush_interval_ms: 5_000,
        }
    }
}

/// Anomaly detection (H4 check 7) and the quarantine (see `hubgate_gateway::anomaly`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnomalyConfig {
    /// Count requests against the thresholds and quarantine those over them. Default `true`.
    pub enabled: bool,
    /// Smart Metering Systems a User is assumed to serve: the default thresholds are the
    /// SEC Annex 5 Table 5.3 volumes per system times this. Default `1000000`.
    pub estate_size: u64,
    /// How many times the even rate of those volumes a minute or an hour may carry before
    /// it is anomalous. Default `10`.
    pub burst_factor: u32,
    /// Thresholds per User and SRV, replacing the defaults: rules `USER:SRV=PER_MINUTE,PER_HOUR`
    /// separated by `;` (`*` for any User or SRV, `-` for no limit). Default: none.
    pub overrides: String,
    /// Most (User, SRV) pairs whose windows are kept in memory. Default `65536`.
    pub max_tracked: usize,
    /// Bearer token for the quarantine admin API; at least 32 characters of
    /// `A-Z a-z 0-9 - . _ ~ + /`. Default: none, meaning a token generated on first start in
    /// `<data_dir>/anomaly/admin-token` (its path is printed at start).
    pub admin_token: Option<String>,
    /// Most alerts one Communications Hub may send in a sliding minute; beyond it each alert
    /// is quarantined (not delivered). `0` for no limit. Default `60`.
    pub hub_alerts_per_minute: u64,
    /// Most alerts one Communications Hub may send in a sliding hour; beyond it each alert
    /// is quarantined. `0` for no limit. Default `600`.
    pub hub_alerts_per_hour: u64,
    /// Alerts over a hub's threshold are quarantined only while the quarantine holds fewer
    /// records (requests, alerts and Service Responses together) than this; beyond it they
    /// are dropped, counted and logged, so that a hub's alert storm cannot fill the store.
    /// `0` for no limit. Default `100000`.
    pub max_held_alerts: u64,
    /// Most Service Responses (devices' answers) one Communications Hub may bring back in a
    /// sliding minute; beyond it each response is quarantined (held, not delivered, its User
    /// told by a `QuarantinedRequest` DCC alert). `0` for no limit. Default `34725`: five
    /// User roles times the busiest request threshold a minute (the derivation is in
    /// `hubgate_gateway::anomaly::DEFAULT_HUB_RESPONSES_PER_MINUTE`).
    pub hub_responses_per_minute: u64,
    /// Most Service Responses one Communications Hub may bring back in a sliding hour. `0`
    /// for no limit. Default `2083335`.
    pub hub_responses_per_hour: u64,
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig {
            enabled: true,
            estate_size: 1_000_000,
            burst_factor: 10,
            overrides: String::new(),
            max_tracked: 65_536,
            admin_token: None,
            hub_alerts_per_minute: 60,
            hub_alerts_per_hour: 600,
            max_held_alerts: 100_000,
            hub_responses_per_minute: 34_725,
            hub_responses_per_hour: 2_083_335,
        }
    }
}

/// Alerts to Users (see `hubgate_gateway::alerts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Identical device alerts (same device, same alert code) within this many milliseconds
    /// of the first are counted and held back, then summed up in one alert carrying
    /// `ThrottledAlertCount`. `0` turns throttling off. Default `60000`.
    pub throttle_window_ms: u64,
    /// Most (device, alert code) pairs tracked for throttling; the oldest is closed (its
    /// summary sent) to make room. Default `65536`.
    pub throttle_max_tracked: usize,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            throttle_window_ms: 60_000,
            throttle_max_tracked: 65_536,
        }
    }
}

/// In-process emulated meters (see `hubgate_gateway::emulation`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmulationConfig {
    /// Emulated premises (a hub with an ESME, GSME, GPF, PPMID and IHD each) created at
    /// start and recorded in the inventory; `0` for none. Default `2`.
    pub hubs: usize,
    /// Whom the emulated meters trust as their supplier: `"demo"`, the demo import supplier
    /// (with the local PKI; a DCC Boxed folder's supplier with `--smki`), or `"load-test"`,
    /// the load-test Users (`pki.load_test_users`), each supplying an equal run of premises,
    /// so a load generator can drive meters from many Users at once. Default `"demo"`.
    pub suppliers: String,
    /// Folder where the emulated devices' certificates (and key-agreement private keys) and
    /// every GBCS message they are sent or produce are written, for an independent GBCS
    /// checker. Default: none (nothing recorded).
    pub record_dir: Option<PathBuf>,
    /// Emulated devices that answer with a corrupted MAC (fault injection for tests): Device
    /// IDs (`00-DB-55-00-00-00-00-01`, or 16 hex digits), separated by commas. The gateway
    /// must reject those answers; the User then gets E21. Default: none.
    pub mac_fault_devices: String,
}

impl Default for EmulationConfig {
    fn default() -> Self {
        EmulationConfig {
            hubs: 2,
            suppliers: "demo".into(),
            record_dir: None,
            mac_fault_devices: String::new(),
        }
    }
}

/// Device commands and their answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// Send device commands. `false` acknowledges device requests after the H4 checks without
    /// sending anything (and starts no hub actors or emulated meters): only for measuring the
    /// ingress alone. Default `true`.
    pub enabled: bool,
    /// Time a device has to answer a command, in milliseconds; then the User gets E20 (not
    /// sent) or E21 (no answer). Default `30000`.
    pub response_timeout_ms: u64,
    /// A hub actor with no work held for this long, in milliseconds, writes its state (HAN
    /// device log copy, counters, alert counters) to the store and stops; the next message
    /// for the hub reads it back. Default `60000`.
    pub hub_idle_timeout_ms: u64,
    /// Commands one hub actor holds, queued and in flight together; an accepted request whose
    /// hub is full is answered `E44` (its counter is spent). Default `64`.
    pub hub_queue_capacity: usize,
    /// Device alerts waiting for the response writer, at most. While it is full a rig's
    /// SMWAN connection is not read (QUIC flow control holds the rig back) and a hub actor
    /// waits `alert_queue_wait_ms`, then drops the alert (counted in
    /// `hubgate_alerts_dropped_total`). Default `4096`.
    pub alert_queue_capacity: usize,
    /// Milliseconds a hub actor's thread waits for room in a full alert queue before it
    /// drops the alert. Default `100`.
    pub alert_queue_wait_ms: u64,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            enabled: true,
            response_timeout_ms: 30_000,
            hub_idle_timeout_ms: 60_000,
            hub_queue_capacity: 64,
            alert_queue_capacity: 4096,
            alert_queue_wait_ms: 100,
        }
    }
}

/// The SMWAN link: a QUIC listener where `hil-rig` processes connect (mutual TLS with the
/// local TLS CA) and register the hubs they host (see `hubgate_gateway::smwan`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmwanConfig {
    /// UDP address of the QUIC listener. Default: none (no SMWAN link; only the in-process
    /// emulated hubs are reachable).
    pub listen: Option<SocketAddr>,
    /// A folder of device certificates written by `hil-rig` (`--keys-out`), loaded into the
    /// key store at start like `--device-keys`. Default: none.
    pub device_keys: Option<PathBuf>,
}

/// The local test PKI (used when no `smki_dir` is set).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PkiConfig {
    /// Load-test Users created besides the six demo Users (`load-00001`…, User IDs
    /// `90-B3-D5-1F-50-00-00-01`…, import and gas supplier), for load generators that send
    /// from many Users at once. Default `0`.
    pub load_test_users: u32,
}

/// TLS of the DUIS listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Serve HTTPS on `listen`. Default `true`.
    pub enabled: bool,
    /// Server certificate chain (PEM). Default: none, meaning `<data_dir>/tls/server.pem`,
    /// issued on first start by a local TLS CA (`<data_dir>/tls/ca.pem`).
    pub cert: Option<PathBuf>,
    /// Server private key (PEM). Default: none, meaning `<data_dir>/tls/server.key`. Set
    /// both `cert` and `key`, or neither.
    pub key: Option<PathBuf>,
    /// Require a client certificate (mutual TLS). Default `false`.
    pub mutual_tls: bool,
    /// CA certificates (PEM) that client certificates must chain to. Default: none, meaning
    /// the local TLS CA `<data_dir>/tls/ca.pem`, which also issues a client certificate per
    /// User in `<data_dir>/tls/clients/`.
    pub client_ca: Option<PathBuf>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            enabled: true,
            cert: None,
            key: None,
            mutual_tls: false,
            client_ca: None,
        }
    }
}

/// Settings for one User, applied on top of the key material.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UserOverride {
    /// Where responses and alerts are POSTed. Default: none (the User pulls them).
    pub delivery_endpoint: Option<String>,
    /// Refuse the User's requests with `E3`. Default `false`.
    pub suspended: bool,
    /// Bearer token with which the User pulls its kept responses and alerts
    /// (`GET /api/v1/responses`) when it does not present a client certificate naming it;
    /// at least 32 characters of `A-Z a-z 0-9 - . _ ~ + /`. Default: none.
    pub pull_token: Option<String>,
}

/// The signature verifier pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerifierPoolConfig {
    /// Verifier threads; `0` means one per available core. Default `0`.
    pub threads: usize,
    /// Most signatures one thread verifies per wake-up. Default `64`.
    pub max_batch: usize,
    /// Most requests waiting for verification; beyond it requests are refused. Default
    /// `4096`.
    pub queue_capacity: usize,
    /// When nothing is being verified, verify on the HTTP worker instead of waking a pool
    /// thread. Default `true`.
    pub inline_when_idle: bool,
}

impl Default for VerifierPoolConfig {
    fn default() -> Self {
        VerifierPoolConfig {
            threads: 0,
            max_batch: 64,
            queue_capacity: 4096,
            inline_when_idle: true,
        }
    }
}

impl VerifierPoolConfig {
    /// `threads`, with `0` replaced by `available_cores`.
    pub fn threads_for(&self, available_cores: usize) -> usize {
        if self.threads == 0 {
            available_cores.max(1)
        } else {
            self.threads
        }
    }
}

/// Bounds on incoming requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body, in bytes (firmware images in SR 11.1 reach several MB).
    /// Default `16777216` (16 MiB).
    pub max_request_bytes: usize,
    /// Largest body on `/api/v1/serviceS` and `/api/v1/serviceT` (device requests: the
    /// largest DUIS device request is a few tens of kB), at most `max_request_bytes`.
    /// Default `1048576` (1 MiB).
    pub max_device_request_bytes: usize,
    /// Most bytes of DUIS request bodies the gateway holds at once, from the first byte read
    /// until the request is answered; a request past it is answered HTTP 503 with
    /// `Retry-After`. At least `max_request_bytes`. Default `268435456` (256 MiB: sixteen
    /// firmware images of the largest size at once).
    pub max_inflight_request_bytes: usize,
    /// Deepest XML element nesting. Default `64`.
    pub max_depth: usize,
    /// Most XML nodes in one request. Default `200000`.
    pub max_nodes: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let xml = hubgate_protocol::duis::xml::Limits::default();
        LimitsConfig {
            max_request_bytes: xml.max_bytes,
            max_device_request_bytes: 1 << 20,
            max_inflight_request_bytes: 256 << 20,
            max_depth: xml.max_depth,
            max_nodes: xml.max_nodes,
        }
    }
}

impl LimitsConfig {
    /// The XML reader's limits.
    pub fn xml_limits(&self) -> hubgate_protocol::duis::xml::Limits {
        hubgate_protocol::duis::xml::Limits {
            max_bytes: self.max_request_bytes,
            max_depth: self.max_depth,
            max_nodes: self.max_nodes,
        }
    }
}

/// Logging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// One JSON object per line instead of text. Default `false`.
    pub json: bool,
    /// Filter in `tracing` env-filter syntax (`info`, `hubgate_gateway=debug,info`).
    /// Default `info`.
    pub level: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            json: false,
            level: "info".into(),
        }
    }
}

/// Delivery of responses and alerts to Users' endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {
    /// Further attempts after a failed delivery. Default `5`.
    pub retries: u32,
    /// Wait before the first retry, in milliseconds; it doubles for each further retry.
    /// Default `500`.
    pub backoff_ms: u64,
    /// Time allowed for one delivery attempt, in milliseconds. Default `10000`.
    pub timeout_ms: u64,
    /// Delivery attempts in flight at once on each sender thread (a User's messages all go
    /// through one of them). Default `16`.
    pub concurrency: usize,
    /// Sender threads, each delivering the messages of its share of the Users. Default `0`:
    /// a quarter of the cores, one to four.
    pub threads: usize,
    /// Most messages held for one User (waiting for delivery or kept for it to pull);
    /// beyond it new messages for that User are refused, never evicted. Default `100000`.
    pub max_messages_per_user: u64,
    /// CA certificates (PEM) trusted for `https://` delivery endpoints. Default: none,
    /// meaning the local TLS CA `<data_dir>/tls/ca.pem` and nothing else (no public roots).
    pub ca: Option<PathBuf>,
    /// Where responses and alerts for Users without their own
    /// `users.<id>.delivery_endpoint` are POSTed (one receiver for many Users, such as a
    /// load generator's listener). Default: none (those Users pull them).
    pub default_endpoint: Option<String>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            retries: 5,
            backoff_ms: 500,
            timeout_ms: 10_000,
            concurrency: 16,
            threads: 0,
            max_messages_per_user: 100_000,
            ca: None,
            default_endpoint: None,
        }
    }
}

/// The Registration Data push endpoint (`POST /api/v1/registration`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    /// Bearer token Registration Data Providers present; at least 32 characters of
    /// `A-Z a-z 0-9 - . _ ~ + /`. Default: none, meaning a token generated on first start
    /// in `<data_dir>/registration/push-token` (its path is printed at start).
    pub push_token: Option<String>,
    /// Largest push body, in bytes. Default `268435456` (256 MiB).
    pub max_push_bytes: usize,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        RegistrationConfig {
            push_token: None,
            max_push_bytes: crate::registration::Limits::default().max_body_bytes,
        }
    }
}

/// The clock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClockConfig {
    /// Pin the clock at this instant (RFC 3339, e.g. `2025-01-01T00:00:00Z`), for tests and
    /// reproducible runs. Default: none (the system clock).
    pub pinned: Option<String>,
    /// Virtual time for test runs: the clock shows the RFC 3339 instant written in this
    /// file, read again whenever it changes (see `hubgate_gateway::schedules::virtual_time`);
    /// it starts at `pinned` (or the system time) until the file holds an instant. Default:
    /// none.
    pub follow_file: Option<PathBuf>,
}

impl ClockConfig {
    /// The pinned instant in milliseconds since the Unix epoch, if pinned (validated by
    /// [`Config::load`]).
    pub fn pinned_ms(&self) -> Option<i64> {
        self.pinned
            .as_deref()
            .and_then(crate::clock::parse_rfc3339_ms)
    }
}

/// How an environment value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bool,
    Int,
    Text,
    Path,
    Addr,
    Time,
}

/// One configuration field: its path, how it is read, an alias variable, and its
/// documentation for the example file. Documentation lives here and on the struct fields;
/// a test checks that the two lists of fields agree.
struct Field {
    path: &'static str,
    kind: Kind,
    optional: bool,
    alias: Option<&'static str>,
    doc: &'static str,
    /// For optional fields, a value to show (commented out) in the example.
    example: &'static str,
}

const fn field(path: &'static str, kind: Kind, doc: &'static str) -> Field {
    Field {
        path,
        kind,
        optional: false,
        alias: None,
        doc,
        example: "",
    }
}

const fn optional(
    path: &'static str,
    kind: Kind,
    doc: &'static str,
    example: &'static str,
) -> Field {
    Field {
        path,
        kind,
        optional: true,
        alias: None,
        doc,
        example,
    }
}

const fn aliased(mut f: Field, alias: &'static str) -> Field {
    f.alias = Some(alias);
    f
}

const FIELDS: &[Field] = &[
    field(
        "data_dir",
        Kind::Path,
        "Folder for the durable store, the local test PKI (pki/) and the TLS files (tls/).",
    ),
    field(
        "store_cache_mib",
        Kind::Int,
        "The store's page cache in MiB (the operating system caches the rest of the file).",
    ),
    field(
        "store_write_queue",
        Kind::Int,
        "Writes waiting for the store's committer; beyond it requests are refused (E44, 503).",
    ),
    field(
        "store_commit_delay_us",
        Kind::Int,
        "While busy, how long (µs) the committer lets a batch grow before one shared commit; 0 never waits.",
    ),
    field(
        "listen",
        Kind::Addr,
        "The DUIS listener (HTTPS unless tls.enabled is false); 8079 is the DCC Boxed port.",
    ),
    field(
        "metrics_listen",
        Kind::Addr,
        "The Prometheus metrics listener (plain HTTP).",
    ),
    optional(
        "plain_http_listen",
        Kind::Addr,
        "An additional plain-HTTP DUIS listener, for tools without TLS. Default: none.",
        "\"127.0.0.1:8080\"",
    ),
    optional(
        "smki_dir",
        Kind::Path,
        "A DCC Boxed key folder (certificates, keys, keystore.json) to load instead of the\n\
         local test PKI. Default: none (the local test PKI in data_dir, created on first start).",
        "\"/path/to/dcc-boxed/smki\"",
    ),
    field("tls.enabled", Kind::Bool, "Serve HTTPS on `listen`."),
    optional(
        "tls.cert",
        Kind::Path,
        "Server certificate chain (PEM). Default: none, meaning <data_dir>/tls/server.pem,\n\
         issued on first start by a local TLS CA (<data_dir>/tls/ca.pem) that clients trust.",
        "\"/etc/hubgate/server.pem\"",
    ),
    optional(
        "tls.key",
        Kind::Path,
        "Server private key (PEM). Default: none, meaning <data_dir>/tls/server.key.\n\
         Set both cert and key, or neither.",
        "\"/etc/hubgate/server.key\"",
    ),
    aliased(
        field(
            "tls.mutual_tls",
            Kind::Bool,
            "Require a client certificate (mutual TLS).",
        ),
        "HUBGATE_TLS_MUTUAL",
    ),
    optional(
        "tls.client_ca",
        Kind::Path,
        "CA certificates (PEM) that client certificates must chain to. Default: none, meaning\n\
         the local TLS CA, which also issues a client certificate per User in\n\
         <data_dir>/tls/clients/.",
        "\"/etc/hubgate/client-ca.pem\"",
    ),
    field(
        "verifier_pool.threads",
        Kind::Int,
        "Signature verifier threads; 0 means one per available core.",
    ),
    field(
        "verifier_pool.max_batch",
        Kind::Int,
        "Most signatures one verifier thread takes per wake-up.",
    ),
    field(
        "verifier_pool.queue_capacity",
        Kind::Int,
        "Most requests waiting for verification; beyond it requests are refused.",
    ),
    field(
        "verifier_pool.inline_when_idle",
        Kind::Bool,
        "When nothing is being verified, verify on the HTTP worker instead of waking a\n\
         verifier thread (saves a thread hand-off on an idle gateway).",
    ),
    field(
        "limits.max_request_bytes",
        Kind::Int,
        "Largest request body in bytes (firmware images in SR 11.1 reach several MB).",
    ),
    field(
        "limits.max_device_request_bytes",
        Kind::Int,
        "Largest body on /api/v1/serviceS and /api/v1/serviceT (device requests, a few tens of\n\
         kB at most), capped by max_request_bytes.",
    ),
    field(
        "limits.max_inflight_request_bytes",
        Kind::Int,
        "Most bytes of DUIS request bodies held at once, from the first byte read until the\n\
         request is answered; past it a request gets HTTP 503 with Retry-After. At least\n\
         max_request_bytes.",
    ),
    field(
        "limits.max_depth",
        Kind::Int,
        "Deepest XML element nesting.",
    ),
    field(
        "limits.max_nodes",
        Kind::Int,
        "Most XML nodes in one request.",
    ),
    aliased(
        field(
            "logging.json",
            Kind::Bool,
            "One JSON object per line instead of text.",
        ),
        "HUBGATE_LOG_JSON",
    ),
    aliased(
        field(
            "logging.level",
            Kind::Text,
            "Log filter in tracing env-filter syntax (\"info\", \"hubgate_gateway=debug,info\").",
        ),
        "HUBGATE_LOG_LEVEL",
    ),
    field(
        "delivery.retries",
        Kind::Int,
        "Further attempts after a failed delivery of a response or alert.",
    ),
    field(
        "delivery.backoff_ms",
        Kind::Int,
        "Wait before the first retry, in milliseconds; doubles for each further retry.",
    ),
    field(
        "delivery.timeout_ms",
        Kind::Int,
        "Time allowed for one delivery attempt, in milliseconds.",
    ),
    field(
        "delivery.concurrency",
        Kind::Int,
        "Delivery attempts in flight at once on each sender thread (a User's messages all\n\
         go through one of them).",
    ),
    field(
        "delivery.threads",
        Kind::Int,
        "Sender threads, each delivering the messages of its share of the Users; 0: a\n\
         quarter of the cores, one to four.",
    ),
    field(
        "delivery.max_messages_per_user",
        Kind::Int,
        "Most messages held for one User (waiting for delivery or kept for it to pull);\n\
         beyond it new messages for that User are refused, never evicted.",
    ),
    optional(
        "delivery.ca",
        Kind::Path,
        "CA certificates (PEM) trusted for https:// delivery endpoints. Default: none, meaning\n\
         the local TLS CA <data_dir>/tls/ca.pem and nothing else (no public roots).",
        "\"/etc/hubgate/user-endpoints-ca.pem\"",
    ),
    optional(
        "delivery.default_endpoint",
        Kind::Text,
        "Where responses and alerts for Users without their own users.<id>.delivery_endpoint\n\
         are POSTed (one receiver for many Users, such as a load generator's listener).\n\
         Default: none (those Users pull them).",
        "\"https://127.0.0.1:8443/duis\"",
    ),
    optional(
        "registration.push_token",
        Kind::Text,
        "Bearer token Registration Data Providers present on POST /api/v1/registration\n\
         (32 or more characters of A-Z a-z 0-9 - . _ ~ + /). Default: none, meaning a token\n\
         generated on first start in <data_dir>/registration/push-token.",
        "\"change-me-to-32-or-more-random-characters\"",
    ),
    field(
        "registration.max_push_bytes",
        Kind::Int,
        "Largest Registration Data push body, in bytes.",
    ),
    field(
        "pki.load_test_users",
        Kind::Int,
        "Load-test Users created in the local test PKI besides the six demo Users\n\
         (load-00001…, User IDs 90-B3-D5-1F-50-00-00-01…, import and gas supplier).",
    ),
    field(
        "emulation.hubs",
        Kind::Int,
        "Emulated premises (a hub with an ESME, GSME, GPF, PPMID and IHD each) created at\n\
         start and recorded in the inventory; 0 for none.",
    ),
    field(
        "emulation.suppliers",
        Kind::Text,
        "Whom the emulated meters trust as supplier: \"demo\" (the demo import supplier, or\n\
         the DCC Boxed supplier with --smki) or \"load-test\" (the load-test Users, each\n\
         supplying an equal run of premises; needs pki.load_test_users).",
    ),
    optional(
        "emulation.record_dir",
        Kind::Path,
        "Folder where the emulated devices' certificates and key-agreement private keys\n\
         (keys/) and every GBCS message they are sent or produce (messages/, hex) are written,\n\
         for an independent GBCS checker; test runs only. Default: none (nothing recorded).",
        "\"/tmp/hubgate-gbcs-record\"",
    ),
    field(
        "emulation.mac_fault_devices",
        Kind::Text,
        "Emulated devices that answer with a corrupted MAC (fault injection, test runs only):\n\
         Device IDs separated by commas; the gateway rejects those answers (E21).",
    ),
    field(
        "firmware.chunk_bytes",
        Kind::Int,
        "SR 11.1: bytes per chunk of a firmware image sent to a hub (1024 to 1048576).",
    ),
    field(
        "firmware.chunk_pause_ms",
        Kind::Int,
        "SR 11.1: pause between chunks, in milliseconds (0: none).",
    ),
    field(
        "firmware.max_open",
        Kind::Int,
        "SR 11.1: distributions in progress at most (each keeps its image in the store).",
    ),
    field(
        "routing.enabled",
        Kind::Bool,
        "Send device commands. false acknowledges device requests after the H4 checks\n\
         without sending anything (no hub actors, no emulated meters): only for measuring\n\
         the ingress alone.",
    ),
    field(
        "routing.response_timeout_ms",
        Kind::Int,
        "Time a device has to answer a command, in milliseconds; then the User gets E20\n\
         (not sent) or E21 (no answer).",
    ),
    field(
        "routing.hub_idle_timeout_ms",
        Kind::Int,
        "Milliseconds a hub actor waits with no work before it writes its state (device log\n\
         copy, counters) to the store and stops.",
    ),
    field(
        "routing.hub_queue_capacity",
        Kind::Int,
        "Commands one hub actor holds, queued and in flight; an accepted request whose hub\n\
         is full is answered E44 (its counter is spent).",
    ),
    field(
        "routing.alert_queue_capacity",
        Kind::Int,
        "Device alerts waiting for the response writer, at most. While it is full a rig's\n\
         SMWAN connection is not read (QUIC flow control holds the rig back) and a hub actor\n\
         waits alert_queue_wait_ms, then drops the alert (hubgate_alerts_dropped_total).",
    ),
    field(
        "routing.alert_queue_wait_ms",
        Kind::Int,
        "Milliseconds a hub actor's thread waits for room in a full alert queue before it\n\
         drops the alert.",
    ),
    optional(
        "smwan.listen",
        Kind::Addr,
        "UDP address of the SMWAN QUIC listener where hil-rig processes connect (mutual TLS:\n\
         client certificates issued by the local TLS CA). Default: none (no SMWAN link).",
        "\"127.0.0.1:4433\"",
    ),
    optional(
        "smwan.device_keys",
        Kind::Path,
        "A folder of device certificates written by hil-rig (--keys-out), loaded into the\n\
         key store at start like --device-keys. Default: none.",
        "\"./rig-keys\"",
    ),
    optional(
        "clock.pinned",
        Kind::Time,
        "Pin the clock at this instant (RFC 3339), for tests and reproducible runs.\n\
         Default: none (the system clock).",
        "\"2025-01-01T00:00:00Z\"",
    ),
    optional(
        "clock.follow_file",
        Kind::Path,
        "Virtual time for test runs: the clock shows the RFC 3339 instant written in this\n\
         file, read again whenever it changes. Default: none.",
        "\"/tmp/hubgate-clock\"",
    ),
    field(
        "anomaly.enabled",
        Kind::Bool,
        "Count requests per User and SRV against the thresholds and quarantine those over\n\
         them (answered E43, held for an operator to release or delete).",
    ),
    field(
        "anomaly.estate_size",
        Kind::Int,
        "Smart Metering Systems a User is assumed to serve: the default thresholds are the\n\
         SEC Annex 5 Table 5.3 volumes per system (per day) times this.",
    ),
    field(
        "anomaly.burst_factor",
        Kind::Int,
        "How many times the even rate of those volumes a sliding minute or hour may carry\n\
         before the User's requests for the SRV are quarantined.",
    ),
    field(
        "anomaly.overrides",
        Kind::Text,
        "Thresholds replacing the defaults: rules USER:SRV=PER_MINUTE,PER_HOUR separated by ;\n\
         (* for any User or SRV, - for no limit; the most specific rule wins), e.g.\n\
         \"90-B3-D5-1F-30-01-00-00:4.1.1=3,-; *:11.1=20,100\".",
    ),
    field(
        "anomaly.max_tracked",
        Kind::Int,
        "Most (User, SRV) pairs whose sliding windows are kept in memory (idle ones are\n\
         dropped first, then the least recently used).",
    ),
    optional(
        "anomaly.admin_token",
        Kind::Text,
        "Bearer token for the quarantine admin API (/api/v1/admin/quarantine); 32 or more\n\
         characters of A-Z a-z 0-9 - . _ ~ + /. Default: none, meaning a token generated\n\
         on first start in <data_dir>/anomaly/admin-token.",
        "\"change-me-to-32-or-more-random-characters\"",
    ),
    field(
        "anomaly.hub_alerts_per_minute",
        Kind::Int,
        "Most alerts one Communications Hub may send in a sliding minute; beyond it each\n\
         alert is quarantined (held, not delivered, until an operator releases it). 0: no limit.",
    ),
    field(
        "anomaly.hub_alerts_per_hour",
        Kind::Int,
        "Most alerts one Communications Hub may send in a sliding hour (0: no limit).",
    ),
    field(
        "anomaly.max_held_alerts",
        Kind::Int,
        "Alerts over a hub's threshold are quarantined only while the quarantine holds fewer\n\
         records than this; beyond it they are dropped, counted and logged (0: no limit).",
    ),
    field(
        "anomaly.hub_responses_per_minute",
        Kind::Int,
        "Most Service Responses (devices' answers) one Communications Hub may bring back in a\n\
         sliding minute; beyond it each response is quarantined (held, not delivered, its User\n\
         sent a QuarantinedRequest DCC alert) until an operator releases it. 0: no limit. The\n\
         default is five User roles (IS, ES, GS, ED, GT) times the busiest request threshold\n\
         a minute, so no answer to a request the request thresholds let through is held.",
    ),
    field(
        "anomaly.hub_responses_per_hour",
        Kind::Int,
        "Most Service Responses one Communications Hub may bring back in a sliding hour\n\
         (0: no limit; the default is five times the busiest request threshold an hour).",
    ),
    field(
        "alerts.throttle_window_ms",
        Kind::Int,
        "Identical device alerts (same device and alert code) within this many milliseconds\n\
         of the first are held back and counted; when the window closes one alert carrying\n\
         ThrottledAlertSequenceId and ThrottledAlertCount stands for them. 0: no throttling.",
    ),
    field(
        "alerts.throttle_max_tracked",
        Kind::Int,
        "Most (device, alert code) pairs tracked for throttling; the oldest window is closed\n\
         early (its summary sent) to make room.",
    ),
    field(
        "performance.on_demand_target_ms",
        Kind::Int,
        "Target Response Time of on-demand Service Responses, in milliseconds, against which\n\
         the monthly Code Performance Measures tally counts them (SEC: 30000).",
    ),
    field(
        "performance.flush_interval_ms",
        Kind::Int,
        "Milliseconds between writes of the performance tally to the store; a crash loses\n\
         at most the answers counted in one interval.",
    ),
    field(
        "schedules.max_per_user",
        Kind::Int,
        "Most DSP schedules (SR 5.1) one User may hold.",
    ),
    field(
        "schedules.tick_ms",
        Kind::Int,
        "Milliseconds between the schedule runner's looks for due executions.",
    ),
];

/// Fields of each `[users."<User ID>"]` table.
const USER_FIELDS: &[Field] = &[
    optional(
        "delivery_endpoint",
        Kind::Text,
        "Where responses and alerts are POSTed. Default: none (the User pulls them).",
        "\"https://supplier.example:8443/duis\"",
    ),
    field(
        "suspended",
        Kind::Bool,
        "Refuse the User's requests with E3. Default false.",
    ),
    optional(
        "pull_token",
        Kind::Text,
        "Bearer token with which the User pulls its kept responses and alerts\n\
         (GET /api/v1/responses) when no client certificate names it; 32 or more characters\n\
         of A-Z a-z 0-9 - . _ ~ + /. Default: none.",
        "\"change-me-to-32-or-more-random-characters\"",
    ),
];

impl Config {
    /// Reads the configuration: defaults, then the TOML file at `path` (if any), then the
    /// `HUBGATE_*` variables among `env` (see the module documentation), then checks the
    /// result.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the file position, variable or field at fault.
    pub fn load(
        path: Option<&Path>,
        env: impl Iterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                let file_err = |e: toml::de::Error| ConfigError::File {
                    path: path.to_path_buf(),
                    message: e.to_string().trim_end().to_string(),
                };
                // Deserialising the text directly gives errors with line and column.
                toml::from_str::<Config>(&text).map_err(file_err)?;
                toml::from_str::<toml::Table>(&text).map_err(file_err)?
            }
            None => toml::Table::new(),
        };
        let mut overridden = false;
        let mut vars: Vec<(String, String)> =
            env.filter(|(k, _)| k.starts_with("HUBGATE_")).collect();
        vars.sort();
        for (variable, value) in vars {
            if IGNORED_VARIABLES.contains(&variable.as_str()) {
                continue;
            }
            apply_env(&mut table, &variable, &value)?;
            overridden = true;
        }
        let config: Config = if overridden {
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Env {
                    variable: "HUBGATE_*".into(),
                    message: e.to_string().trim_end().to_string(),
                })?
        } else {
            toml::Value::Table(table)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::File {
                    path: path.map(Path::to_path_buf).unwrap_or_default(),
                    message: e.to_string().trim_end().to_string(),
                })?
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks what the types alone do not.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field: &str, message: &str| {
            Err(ConfigError::Invalid {
                field: field.into(),
                message: message.into(),
            })
        };
        if self.data_dir.as_os_str().is_empty() {
            return invalid("data_dir", "must not be empty");
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            return invalid("tls.cert", "set both tls.cert and tls.key, or neither");
        }
        for (field, value) in [
            ("verifier_pool.max_batch", self.verifier_pool.max_batch),
            (
                "verifier_pool.queue_capacity",
                self.verifier_pool.queue_capacity,
            ),
            ("limits.max_request_bytes", self.limits.max_request_bytes),
            (
                "limits.max_device_request_bytes",
                self.limits.max_device_request_bytes,
            ),
            ("limits.max_depth", self.limits.max_depth),
            ("limits.max_nodes", self.limits.max_nodes),
            ("store_write_queue", self.store_write_queue),
            (
                "routing.hub_queue_capacity",
                self.routing.hub_queue_capacity,
            ),
            (
                "routing.alert_queue_capacity",
                self.routing.alert_queue_capacity,
            ),
        ] {
            if value == 0 {
                return invalid(field, "must be at least 1");
            }
        }
        if self.limits.max_inflight_request_bytes < self.limits.max_request_bytes {
            return invalid(
                "limits.max_inflight_request_bytes",
                "must be at least limits.max_request_bytes, so that the largest body fits",
            );
        }
        if self.store_commit_delay_us > 100_000 {
            return invalid("store_commit_delay_us", "must be at most 100000 (0.1 s)");
        }
        if self.pki.load_test_users > crate::pki::generate::MAX_LOAD_TEST_USERS {
            return invalid("pki.load_test_users", "must be at most 65535");
        }
        if self.routing.response_timeout_ms == 0 {
            return invalid("routing.response_timeout_ms", "must be at least 1");
        }
        if self.routing.hub_idle_timeout_ms == 0 {
            return invalid("routing.hub_idle_timeout_ms", "must be at least 1");
        }
        if self.performance.on_demand_target_ms == 0 {
            return invalid("performance.on_demand_target_ms", "must be at least 1");
        }
        if self.schedules.tick_ms == 0 {
            return invalid("schedules.tick_ms", "must be at least 1");
        }
        if self.performance.flush_interval_ms == 0 {
            return invalid("performance.flush_interval_ms", "must be at least 1");
        }
        if self.emulation.hubs > 4096 {
            return invalid("emulation.hubs", "must be at most 4096");
        }
        match self.emulation.suppliers.as_str() {
            "demo" => {}
            "load-test" if self.smki_dir.is_some() => {
                return invalid(
                    "emulation.suppliers",
                    "\"load-test\" needs the local test PKI (no smki_dir)",
                );
            }
            "load-test" if self.pki.load_test_users == 0 => {
                return invalid(
                    "emulation.suppliers",
                    "\"load-test\" needs pki.load_test_users of at least 1",
                );
            }
            "load-test" => {}
            other => {
                return invalid(
                    "emulation.suppliers",
                    &format!("{other:?} is neither \"demo\" nor \"load-test\""),
                );
            }
        }
        if self.delivery.timeout_ms == 0 {
            return invalid("delivery.timeout_ms", "must be at least 1");
        }
        if self.delivery.threads > 64 {
            return invalid("delivery.threads", "must be at most 64 (0: by the cores)");
        }
        if self.delivery.concurrency == 0 {
            return invalid("delivery.concurrency", "must be at least 1");
        }
        if self.delivery.max_messages_per_user == 0 {
            return invalid("delivery.max_messages_per_user", "must be at least 1");
        }
        if let Some(url) = &self.delivery.default_endpoint
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return invalid(
                "delivery.default_endpoint",
                "must be an http:// or https:// URL",
            );
        }
        if self.registration.max_push_bytes == 0 {
            return invalid("registration.max_push_bytes", "must be at least 1");
        }
        let weak = "must be at least 32 characters of A-Z a-z 0-9 - . _ ~ + / (then optional =)";
        if let Some(t) = &self.registration.push_token
            && crate::registration::BearerToken::new(t).is_err()
        {
            return invalid("registration.push_token", weak);
        }
        if self.anomaly.estate_size == 0 {
            return invalid("anomaly.estate_size", "must be at least 1");
        }
        if self.anomaly.burst_factor == 0 {
            return invalid("anomaly.burst_factor", "must be at least 1");
        }
        if self.anomaly.max_tracked == 0 {
            return invalid("anomaly.max_tracked", "must be at least 1");
        }
        if self.alerts.throttle_max_tracked == 0 {
            return invalid("alerts.throttle_max_tracked", "must be at least 1");
        }
        if let Err(e) = crate::anomaly::thresholds::parse_overrides(&self.anomaly.overrides) {
            return invalid("anomaly.overrides", &e.to_string());
        }
        if let Some(t) = &self.anomaly.admin_token
            && crate::registration::BearerToken::new(t).is_err()
        {
            return invalid("anomaly.admin_token", weak);
        }
        let mut pull_tokens = BTreeMap::new();
        if self.logging.level.trim().is_empty() {
            return invalid("logging.level", "must not be empty (e.g. \"info\")");
        }
        if let Some(p) = &self.clock.pinned
            && crate::clock::parse_rfc3339_ms(p).is_none()
        {
            return invalid(
                "clock.pinned",
                &format!("{p:?} is not an RFC 3339 instant (e.g. 2025-01-01T00:00:00Z)"),
            );
        }
        let mut seen = BTreeMap::new();
        for (id, o) in &self.users {
            let Some(eui) = hubgate_protocol::hex::parse_eui(id) else {
                return invalid(
                    &format!("users.{id}"),
                    "not a User ID (16 hex digits, optionally in pairs joined by '-')",
                );
            };
            if let Some(other) = seen.insert(eui, id) {
                return invalid(
                    &format!("users.{id}"),
                    &format!("names the same User as users.{other}"),
                );
            }
            if let Some(url) = &o.delivery_endpoint
                && !(url.starts_with("https://") || url.starts_with("http://"))
            {
                return invalid(
                    &format!("users.{id}.delivery_endpoint"),
                    "must be an http:// or https:// URL",
                );
            }
            if let Some(t) = &o.pull_token {
                if crate::registration::BearerToken::new(t).is_err() {
                    return invalid(&format!("users.{id}.pull_token"), weak);
                }
                if let Some(other) = pull_tokens.insert(t.as_str(), id) {
                    return invalid(
                        &format!("users.{id}.pull_token"),
                        &format!("is also users.{other}.pull_token; each User needs its own"),
                    );
                }
            }
        }
        Ok(())
    }

    /// The server certificate: `tls.cert`, or `<data_dir>/tls/server.pem`.
    pub fn tls_cert_path(&self) -> PathBuf {
        self.tls
            .cert
            .clone()
            .unwrap_or_else(|| self.data_dir.join("tls").join("server.pem"))
    }

    /// The server key: `tls.key`, or `<data_dir>/tls/server.key`.
    pub fn tls_key_path(&self) -> PathBuf {
        self.tls
            .key
            .clone()
            .unwrap_or_else(|| self.data_dir.join("tls").join("server.key"))
    }

    /// The CA for client certificates when `tls.mutual_tls` is on: `tls.client_ca`, or the
    /// local TLS CA `<data_dir>/tls/ca.pem`; `None` without mutual TLS.
    pub fn client_ca_path(&self) -> Option<PathBuf> {
        self.tls.mutual_tls.then(|| {
            self.tls
                .client_ca
                .clone()
                .unwrap_or_else(|| self.data_dir.join("tls").join("ca.pem"))
        })
    }

    /// The CAs trusted for `https://` delivery endpoints: `delivery.ca`, or the local TLS CA
    /// `<data_dir>/tls/ca.pem`.
    pub fn delivery_ca_path(&self) -> PathBuf {
        self.delivery
            .ca
            .clone()
            .unwrap_or_else(|| self.data_dir.join("tls").join("ca.pem"))
    }

    /// A commented example configuration file with every field at its default; optional
    /// fields that default to none are shown commented out with a sample value.
    pub fn example_toml() -> String {
        let defaults = toml::Value::try_from(Config::default())
            .unwrap_or(toml::Value::Table(toml::Table::new()));
        let mut out = String::from(
            "# HubGate configuration. Every value below is the default; delete what you do not\n\
             # change. Environment variables override the file: HUBGATE_<KEY> for top-level\n\
             # keys, HUBGATE_<SECTION>__<KEY> inside sections (HUBGATE_TLS__MUTUAL_TLS=true).\n",
        );
        let mut section = "";
        for f in FIELDS {
            let (sec, key) = f.path.rsplit_once('.').unwrap_or(("", f.path));
            if sec != section {
                if section.is_empty() {
                    out.push_str(&users_example());
                }
                out.push_str(&format!("\n[{sec}]\n"));
                section = sec;
            } else {
                out.push('\n');
            }
            write_field(&mut out, f, key, lookup(&defaults, f.path));
        }
        out
    }
}

fn users_example() -> String {
    let mut out = String::from(
        "\n# Per-User settings, keyed by User ID. None by default; for example:\n\
         # [users.\"90-B3-D5-1F-40-01-00-00\"]\n",
    );
    for f in USER_FIELDS {
        for line in f.doc.lines() {
            out.push_str(&format!("# # {line}\n"));
        }
        out.push_str(&format!(
            "# # Environment: HUBGATE_USERS__<USER ID>__{}\n",
            f.path.to_uppercase()
        ));
        let value = if f.optional { f.example } else { "false" };
        out.push_str(&format!("# {} = {value}\n", f.path));
    }
    out
}

fn write_field(out: &mut String, f: &Field, key: &str, default: Option<&toml::Value>) {
    for line in f.doc.lines() {
        out.push_str(&format!("# {line}\n"));
    }
    let env = env_name(f.path);
    match f.alias {
        Some(a) => out.push_str(&format!("# Environment: {env} or {a}\n")),
        None => out.push_str(&format!("# Environment: {env}\n")),
    }
    match default {
        Some(v) => out.push_str(&format!("{key} = {v}\n")),
        None => out.push_str(&format!("# {key} = {}\n", f.example)),
    }
}

fn lookup<'a>(v: &'a toml::Value, path: &str) -> Option<&'a toml::Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// `tls.mutual_tls` → `HUBGATE_TLS__MUTUAL_TLS`.
fn env_name(path: &str) -> String {
    format!("HUBGATE_{}", path.replace('.', "__").to_uppercase())
}

/// Sets the field named by `variable` in `table` from `value`.
fn apply_env(table: &mut toml::Table, variable: &str, value: &str) -> Result<(), ConfigError> {
    let err = |message: String| ConfigError::Env {
        variable: variable.to_string(),
        message,
    };
    let (path, f): (Vec<String>, &Field) =
        if let Some(f) = FIELDS.iter().find(|f| f.alias == Some(variable)) {
            (f.path.split('.').map(str::to_string).collect(), f)
        } else if let Some(f) = FIELDS.iter().find(|f| env_name(f.path) == variable) {
            (f.path.split('.').map(str::to_string).collect(), f)
        } else if let Some(rest) = variable.strip_prefix("HUBGATE_USERS__") {
            let (id, key) = rest
                .rsplit_once("__")
                .ok_or_else(|| err("expected HUBGATE_USERS__<USER ID>__<SETTING>".into()))?;
            let f = USER_FIELDS
                .iter()
                .find(|f| f.path.eq_ignore_ascii_case(key))
                .ok_or_else(|| {
                    let known: Vec<String> =
                        USER_FIELDS.iter().map(|f| f.path.to_uppercase()).collect();
                    err(format!(
                        "unknown User setting {key:?} (expected one of {})",
                        known.join(", ")
                    ))
                })?;
            let eui = hubgate_protocol::hex::parse_eui(id)
                .ok_or_else(|| err(format!("{id:?} is not a User ID")))?;
            // The file's key for this User if it has one, so both settings meet in one table.
            let key = table
                .get("users")
                .and_then(toml::Value::as_table)
                .and_then(|users| {
                    users
                        .keys()
                        .find(|k| hubgate_protocol::hex::parse_eui(k) == Some(eui))
                        .cloned()
                })
                .unwrap_or_else(|| hubgate_protocol::hex::eui_duis(&eui));
            (vec!["users".into(), key, f.path.into()], f)
        } else {
            return Err(err(
                "not a HubGate setting (see `hubgate config example` for the names)".into(),
            ));
        };
    let parsed = parse_env_value(f, value).map_err(err)?;
    let (last, parents) = path
        .split_last()
        .ok_or_else(|| err("empty setting name".into()))?;
    let mut t = table;
    for p in parents {
        let entry = t
            .entry(p.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry
            .as_table_mut()
            .ok_or_else(|| err(format!("`{p}` in the file is not a table")))?;
    }
    match parsed {
        Some(v) => {
            t.insert(last.clone(), v);
        }
        None => {
            t.remove(last);
        }
    }
    Ok(())
}

/// The TOML value for an environment value; `None` unsets an optional field.
fn parse_env_value(f: &Field, value: &str) -> Result<Option<toml::Value>, String> {
    let v = value.trim();
    if v.is_empty() {
        return if f.optional {
            Ok(None)
        } else {
            Err(format!("`{}` needs a value", f.path))
        };
    }
    let parsed = match f.kind {
        Kind::Bool => match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => toml::Value::Boolean(true),
            "false" | "0" | "no" | "off" => toml::Value::Boolean(false),
            _ => {
                return Err(format!(
                    "{v:?} is not a boolean (true/false, 1/0, yes/no, on/off)"
                ));
            }
        },
        Kind::Int => {
            let n: i64 = v
                .parse()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| format!("{v:?} is not a non-negative integer"))?;
            toml::Value::Integer(n)
        }
        Kind::Addr => {
            v.parse::<SocketAddr>()
                .map_err(|_| format!("{v:?} is not a socket address (e.g. 127.0.0.1:8079)"))?;
            toml::Value::String(v.into())
        }
        Kind::Time => {
            if crate::clock::parse_rfc3339_ms(v).is_none() {
                return Err(format!(
                    "{v:?} is not an RFC 3339 instant (e.g. 2025-01-01T00:00:00Z)"
                ));
            }
            toml::Value::String(v.into())
        }
        Kind::Text | Kind::Path => toml::Value::String(value.into()),
    };
    Ok(Some(parsed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn no_file_no_env_gives_the_defaults() {
        let c = Config::load(None, env(&[("PATH", "/bin")])).unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.listen.to_string(), "127.0.0.1:8079");
        assert!(c.tls.enabled && !c.tls.mutual_tls);
        assert_eq!(c.plain_http_listen, None);
    }

    #[test]
    fn env_overrides_with_long_and_short_names() {
        let c = Config::load(
            None,
            env(&[
                ("HUBGATE_LISTEN", "0.0.0.0:9000"),
                ("HUBGATE_TLS_MUTUAL", "yes"),
                ("HUBGATE_LOGGING__LEVEL", "debug"),
                ("HUBGATE_LOG_JSON", "1"),
                ("HUBGATE_VERIFIER_POOL__MAX_BATCH", "8"),
                ("HUBGATE_CLOCK__PINNED", "2025-01-01T00:00:00Z"),
                ("HUBGATE_USERS__90B3D51F30010000__SUSPENDED", "true"),
                ("HUBGATE_CONFIG", "/ignored.toml"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), "0.0.0.0:9000");
        assert!(c.tls.mutual_tls && c.logging.json);
        assert_eq!(c.logging.level, "debug");
        assert_eq!(c.verifier_pool.max_batch, 8);
        assert_eq!(c.clock.pinned_ms(), Some(1_735_689_600_000));
        assert!(c.users["90-B3-D5-1F-30-01-00-00"].suspended);
    }

    #[test]
    fn env_errors_name_the_variable() {
        for (k, v) in [
            ("HUBGATE_LISTEN", "nowhere"),
            ("HUBGATE_TLS_MUTUAL", "maybe"),
            ("HUBGATE_LISTEM", "127.0.0.1:1"),
            ("HUBGATE_VERIFIER_POOL__THREADS", "-1"),
            ("HUBGATE_CLOCK__PINNED", "yesterday"),
        ] {
            let e = Config::load(None, env(&[(k, v)])).unwrap_err();
            assert!(e.to_string().starts_with(k), "{e}");
        }
        let e = Config::load(None, env(&[("HUBGATE_VERIFIER_POOL__MAX_BATCH", "0")])).unwrap_err();
        assert!(e.to_string().starts_with("verifier_pool.max_batch"), "{e}");
    }

    #[test]
    fn tokens_and_delivery_bounds_are_checked() {
        let good = "0123456789abcdefghijklmnopqrstuvwxyz";
        let c = Config::load(
            None,
            env(&[
                ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", good),
                ("HUBGATE_REGISTRATION__PUSH_TOKEN", &good.to_uppercase()),
                ("HUBGATE_DELIVERY__CA", "/etc/ca.pem"),
                ("HUBGATE_DELIVERY__MAX_MESSAGES_PER_USER", "7"),
            ]),
        )
        .unwrap();
        assert_eq!(
            c.users["90-B3-D5-1F-30-01-00-00"].pull_token.as_deref(),
            Some(good)
        );
        assert_eq!(c.delivery_ca_path(), PathBuf::from("/etc/ca.pem"));
        assert_eq!(c.delivery.max_messages_per_user, 7);
        assert_eq!(
            Config::default().delivery_ca_path(),
            PathBuf::from("./hubgate-data/tls/ca.pem")
        );
        for (pairs, field) in [
            (
                vec![("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", "short")],
                "users.90-B3-D5-1F-30-01-00-00.pull_token",
            ),
            (
                vec![
                    ("HUBGATE_USERS__90B3D51F30010000__PULL_TOKEN", good),
                    ("HUBGATE_USERS__90B3D51F30020000__PULL_TOKEN", good),
                ],
                "users.90-B3-D5-1F-30-02-00-00.pull_token",
            ),
            (
                vec![(
                    "HUBGATE_REGISTRATION__PUSH_TOKEN",
                    "has spaces in it but is long enough",
                )],
                "registration.push_token",
            ),
            (
                vec![("HUBGATE_DELIVERY__CONCURRENCY", "0")],
                "delivery.concurrency",
            ),
            (
                vec![("HUBGATE_DELIVERY__THREADS", "65")],
                "delivery.threads",
            ),
            (
                vec![("HUBGATE_DELIVERY__MAX_MESSAGES_PER_USER", "0")],
                "delivery.max_messages_per_user",
            ),
            (
                vec![
                    ("HUBGATE_LIMITS__MAX_REQUEST_BYTES", "2000000"),
                    ("HUBGATE_LIMITS__MAX_INFLIGHT_REQUEST_BYTES", "1999999"),
                ],
                "limits.max_inflight_request_bytes",
            ),
        ] {
            let e = Config::load(None, env(&pairs)).unwrap_err();
            assert!(e.to_string().starts_with(field), "{e}");
        }
        let e = Config::load(
            None,
            env(&[("HUBGATE_USERS__90B3D51F30010000__PULL_TOKN", good)]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("PULL_TOKEN"), "{e}");
    }

    #[test]
    fn delivery_default_endpoint_is_read_and_checked() {
        let c = Config::load(
            None,
            env(&[(
                "HUBGATE_DELIVERY__DEFAULT_ENDPOINT",
                "https://127.0.0.1:8443/duis",
            )]),
        )
        .unwrap();
        assert_eq!(
            c.delivery.default_endpoint.as_deref(),
            Some("https://127.0.0.1:8443/duis")
        );
        assert_eq!(Config::default().delivery.default_endpoint, None);
        let e = Config::load(
            None,
            env(&[("HUBGATE_DELIVERY__DEFAULT_ENDPOINT", "ftp://x/")]),
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("delivery.default_endpoint"),
            "{e}"
        );
    }

    #[test]
    fn every_field_is_documented_for_the_example() {
        // A configuration with every optional field set, flattened to its leaf paths.
        let mut full = Config::default();
        full.plain_http_listen = Some(full.listen);
        full.smki_dir = Some("x".into());
        full.tls.cert = Some("c".into());
        full.tls.key = Some("k".into());
        full.tls.client_ca = Some("ca".into());
        full.clock.pinned = Some("2025-01-01T00:00:00Z".into());
        full.clock.follow_file = Some("/tmp/hubgate-clock".into());
        full.delivery.ca = Some("dca".into());
        full.delivery.default_endpoint = Some("https://x".into());
        full.registration.push_token = Some("t".into());
        full.emulation.record_dir = Some("rd".into());
        full.smwan.listen = Some(full.listen);
        full.smwan.device_keys = Some("rk".into());
        full.anomaly.admin_token = Some("t".into());
        let value = toml::Value::try_from(&full).unwrap();
        let mut leaves = Vec::new();
        flatten(&value, "", &mut leaves);
        leaves.sort();
        let mut documented: Vec<String> = FIELDS.iter().map(|f| f.path.to_string()).collect();
        documented.sort();
        assert_eq!(leaves, documented);
        let u = toml::Value::try_from(UserOverride {
            delivery_endpoint: Some("https://x".into()),
            suspended: true,
            pull_token: Some("t".into()),
        })
        .unwrap();
        let mut user_leaves = Vec::new();
        flatten(&u, "", &mut user_leaves);
        user_leaves.sort();
        let mut user_documented: Vec<&str> = USER_FIELDS.iter().map(|f| f.path).collect();
        user_documented.sort();
        assert_eq!(user_leaves, user_documented);
        assert_eq!(
            user_leaves,
            ["delivery_endpoint", "pull_token", "suspended"]
        );
    }

    fn flatten(v: &toml::Value, prefix: &str, out: &mut Vec<String>) {
        match v.as_table() {
            Some(t) => {
                for (k, v) in t {
                    if prefix.is_empty() && k == "users" {
                        continue;
                    }
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(v, &p, out);
                }
            }
            None => out.push(prefix.to_string()),
        }
    }
}
