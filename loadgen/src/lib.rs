//! `loadgen`: a load generator for HubGate (or any DCC-like DUIS endpoint) that sends real,
//! XML-signed DUIS Service Requests and measures what comes back.
//!
//! What it does:
//! - builds requests for any SRV of the catalogue from the DUIS conformance templates
//!   ([`templates`]), signed with the keys of the configured Users ([`users`]: a local
//!   `hubgate serve` test PKI, or a DCC Boxed SMKI folder), addressed to devices of an
//!   inventory file with an optional skew towards hot hubs ([`targets`]);
//! - sends them open loop at a fixed, stepped or ramped rate with latency measured from each
//!   request's intended send time, or closed loop to find the highest sustainable rate
//!   ([`run`], [`profile`]), over one ordered, pipelined HTTP/1.1 connection per User so
//!   that RequestID counters reach the gateway in order ([`client`]);
//! - carries critical SRVs through the whole exchange: Transform (CommandVariant 4), the
//!   Pre-Command in the answer signed with the User's GBCS key, Send Command (CommandVariant
//!   5) with the same RequestID;
//! - listens over HTTPS for the Service Responses and alerts the gateway delivers later
//!   ([`listener`]) and matches them to their requests ([`tracker`]), against the SEC target
//!   response times; answers are read with one streaming pass that picks out the fields
//!   recorded ([`answer`]), not the full DUIS model;
//! - reports per SRV: counts, response codes, HDR latency percentiles, late sends, its own
//!   CPU; as a table, JSON and Markdown ([`report`]). Scenarios are TOML ([`scenario`]).
//!
//! What it does not do: verify the gateway's signatures on what it receives (a real User
//! would; here it would cost as much CPU as the gateway spends), or reconnect a User whose
//! connection failed (its remaining requests are reported as not sent).

pub mod answer;
pub mod client;
pub mod cpu;
pub mod listener;
pub mod pick;
pub mod profile;
pub mod report;
pub mod run;
pub mod scenario;
pub mod stats;
pub mod targets;
pub mod templates;
pub mod time;
pub mod tls;
pub mod tracker;
pub mod users;
