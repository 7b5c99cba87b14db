//! Every metric the gateway exports, in one place. Names follow
//! `hubgate_<subsystem>_<what>_<unit>`: `_total` for counters, `_seconds` for durations;
//! labels come from small fixed sets (service, SRV, CommandVariant, response code, check,
//! stage), never a device or User ID.

/// Counter: requests by `service`, `srv`, `cv` and response `code`.
pub const INGRESS_REQUESTS_TOTAL: &str = "hubgate_ingress_requests_total";
/// Histogram: seconds from the body being read to the answer being ready, by `service`.
pub const INGRESS_REQUEST_SECONDS: &str = "hubgate_ingress_request_seconds";
/// Histogram: seconds spent in each ingress `stage` (`parse`, `signature`, `checks`,
/// `answer`).
pub const INGRESS_STAGE_SECONDS: &str = "hubgate_ingress_stage_seconds";
/// Counter: requests refused, by H4 `check` (1–7; 0 = capacity).
pub const INGRESS_REJECTED_TOTAL: &str = "hubgate_ingress_rejected_total";
/// Counter: anomaly-detection checks run.
pub const ANOMALY_CHECKS_TOTAL: &str = "hubgate_anomaly_checks_total";
/// Counter: requests quarantined by anomaly detection, by the `window` whose threshold they
/// breached (`minute`, `hour`).
pub const QUARANTINE_REQUESTS_TOTAL: &str = "hubgate_quarantine_requests_total";
/// Gauge: quarantined requests and alerts held now (waiting for an operator).
pub const QUARANTINE_HELD_MESSAGES: &str = "hubgate_quarantine_held_messages";
/// Counter: quarantined requests an operator dealt with, by `outcome` (`released`,
/// `deleted`).
pub const QUARANTINE_OUTCOMES_TOTAL: &str = "hubgate_quarantine_outcomes_total";
/// Histogram: jobs taken per wake-up of a verifier thread.
pub const VERIFIER_BATCH_JOBS: &str = "hubgate_verifier_batch_jobs";
/// Gauge: jobs waiting for a verifier thread.
pub const VERIFIER_QUEUE_DEPTH_JOBS: &str = "hubgate_verifier_queue_depth_jobs";
/// Counter: requests refused because the verifier queue was full.
pub const VERIFIER_REJECTED_TOTAL: &str = "hubgate_verifier_rejected_total";
/// Histogram: writes sharing one store commit (group commit); barriers count as writes.
pub const STORE_COMMIT_BATCH_WRITES: &str = "hubgate_store_commit_batch_writes";
/// Histogram: seconds one group commit takes (apply and fsync).
pub const STORE_COMMIT_SECONDS: &str = "hubgate_store_commit_seconds";
/// Histogram: seconds a store write waited for the store's one writer (`phase="wait"`) and
/// then held it, commit included (`phase="held"`). The rate of the `held` sum is the share
/// of time the single-writer store is busy: near 1, the store's writer is the limit.
pub const STORE_WRITE_SECONDS: &str = "hubgate_store_write_seconds";
/// Counter: writes refused because the commit queue was full.
pub const STORE_COMMIT_REFUSED_TOTAL: &str = "hubgate_store_commit_refused_total";
/// Gauge: 1 while the store is degraded (a write failed; new requests refused), else 0.
pub const STORE_DEGRADED: &str = "hubgate_store_degraded";
/// Counter: store writes that failed with an I/O error (disk full and others).
pub const STORE_WRITE_FAILURES_TOTAL: &str = "hubgate_store_write_failures_total";
/// Counter: recovery probes of a degraded store, by `outcome` (`failed`, `recovered`).
pub const STORE_PROBES_TOTAL: &str = "hubgate_store_probes_total";
/// Counter: device commands handed to hub actors.
pub const ROUTING_COMMANDS_TOTAL: &str = "hubgate_routing_commands_total";
/// Gauge: device requests held for their DSP future-dated execution time.
pub const ROUTING_DEFERRED: &str = "hubgate_routing_deferred_messages";
/// Counter: journaled requests sent again or answered after a restart, by `outcome`
/// (`resent`, `answered`).
pub const ROUTING_RECOVERED_TOTAL: &str = "hubgate_routing_recovered_total";
/// Counter: Service Responses and Device Alerts queued for delivery, by `kind`.
pub const ROUTING_ANSWERS_TOTAL: &str = "hubgate_routing_answers_total";
/// Counter: answers that could not be queued for delivery (the outbox refused them).
pub const ROUTING_ANSWERS_LOST_TOTAL: &str = "hubgate_routing_answers_lost_total";
/// Counter: future-dated requests cancelled before their execution time, by `pattern`
/// (`dsp`: held by the gateway, answered `E48`; `device`: the device's instruction cancelled,
/// its remembered request forgotten; `superseded`: the device's instruction replaced by a
/// newer future-dated command of the same message code, its remembered request forgotten).
pub const FUTURE_DATED_CANCELLED_TOTAL: &str = "hubgate_future_dated_cancelled_total";
/// Counter: alert messages queued for Users, by `kind` (`device`, `future_dated`, `dcc`):
/// one per receiving User.
pub const ALERTS_TOTAL: &str = "hubgate_alerts_total";
/// Counter: device alerts held back by alert-storm throttling (identical to one delivered
/// within the throttle window); each closed window then sends one summary alert.
pub const ALERTS_THROTTLED_TOTAL: &str = "hubgate_alerts_throttled_total";
/// Counter: throttle summaries sent (alerts carrying `ThrottledAlertCount`), one per closed
/// window that held alerts back, before fan-out to Users.
pub const ALERTS_THROTTLE_SUMMARIES_TOTAL: &str = "hubgate_alerts_throttle_summaries_total";
/// Counter: device alerts dropped, by `reason` (`queue_full`: a hub actor's thread found the
/// alert queue full for `routing.alert_queue_wait_ms`; `no_recipient`: no registered User and
/// a GBCS recipient that is no User; `quarantine_full`: over its hub's threshold with the
/// quarantine at `anomaly.max_held_alerts`; `not_behind_hub`: from a device the inventory
/// puts behind another hub; `not_on_inventory`: from a device the inventory does not hold).
pub const ALERTS_DROPPED_TOTAL: &str = "hubgate_alerts_dropped_total";
/// Counter: SR 11.1 firmware distributions finished (every device with an outcome).
pub const FIRMWARE_DISTRIBUTIONS_TOTAL: &str = "hubgate_firmware_distributions_total";
/// Counter: firmware image chunks a Communications Hub accepted.
pub const FIRMWARE_CHUNKS_TOTAL: &str = "hubgate_firmware_chunks_total";
/// Counter: times a producer of device alerts found the alert queue full and waited, by
/// `at` (`smwan`: a rig connection stopped reading; `hub`: a hub actor's thread).
pub const ALERTS_BACKPRESSURE_TOTAL: &str = "hubgate_alerts_backpressure_total";
/// Gauge: device alerts waiting for the response writer (at most
/// `routing.alert_queue_capacity`).
pub const ROUTING_ALERT_QUEUE_MESSAGES: &str = "hubgate_routing_alert_queue_messages";
/// Gauge: the most device alerts that waited for the response writer at once since start.
pub const ROUTING_ALERT_QUEUE_PEAK_MESSAGES: &str = "hubgate_routing_alert_queue_peak_messages";
/// Counter: device alerts quarantined because their hub breached its alert threshold, by
/// `window` (`minute`, `hour`).
pub const QUARANTINE_ALERTS_TOTAL: &str = "hubgate_quarantine_alerts_total";
/// Counter: Service Responses quarantined because their hub breached its response
/// threshold, by `window` (`minute`, `hour`).
pub const QUARANTINE_RESPONSES_TOTAL: &str = "hubgate_quarantine_responses_total";
/// Counter: signatures verified, by `path` (`inline` on an idle pool, `pool`).
pub const VERIFIER_JOBS_TOTAL: &str = "hubgate_verifier_jobs_total";
/// Counter: responses and alerts delivered to a User's endpoint (2xx), by `kind`.
pub const DELIVERY_DELIVERED_TOTAL: &str = "hubgate_delivery_delivered_total";
/// Counter: failed delivery attempts, by `reason` (`status`, `timeout`, `connect`,
/// `transport`).
pub const DELIVERY_FAILED_ATTEMPTS_TOTAL: &str = "hubgate_delivery_failed_attempts_total";
/// Counter: failed delivery attempts that will be retried.
pub const DELIVERY_RETRIES_TOTAL: &str = "hubgate_delivery_retries_total";
/// Counter: messages kept for the User to pull instead of delivered, by `kind` and `reason`
/// (`no_endpoint`, `retries_exhausted`).
pub const DELIVERY_UNDELIVERED_TOTAL: &str = "hubgate_delivery_undelivered_total";
/// Counter: messages refused because their User already had the most messages held.
pub const DELIVERY_REFUSED_TOTAL: &str = "hubgate_delivery_refused_total";
/// Counter: kept messages a User acknowledged (removed) after pulling them.
pub const DELIVERY_ACKNOWLEDGED_TOTAL: &str = "hubgate_delivery_acknowledged_total";
/// Gauge: messages kept for Users to pull.
pub const DELIVERY_BACKLOG_MESSAGES: &str = "hubgate_delivery_backlog_messages";
/// Gauge: messages waiting to be delivered to a User's endpoint.
pub const DELIVERY_PENDING_MESSAGES: &str = "hubgate_delivery_pending_messages";
/// Histogram: seconds from a message being submitted to its delivery (retries included).
pub const DELIVERY_LATENCY_SECONDS: &str = "hubgate_delivery_latency_seconds";
/// Counter: Registration Data pushes, by `outcome` (`applied`, `partial`, `refused`,
/// `unauthorised`, `failed`).
pub const REGISTRATION_PUSHES_TOTAL: &str = "hubgate_registration_pushes_total";

/// Counter: Service Responses and alerts by SEC target `category` (`on_demand`: 30 s from the
/// request; `alert`: 60 s from its arrival) and whether they were `within` it.
pub const TARGET_TIME_TOTAL: &str = "hubgate_target_time_total";
/// Gauge: the share (0-1) of a GB month's answers of a SEC target `category` (`on_demand`,
/// `alert`) delivered within their Target Response Time, by `category` and `month`
/// (`YYYY-MM`): the Code Performance Measures of `crate::performance`, set at each flush.
pub const PERFORMANCE_WITHIN_RATIO: &str = "hubgate_performance_within_ratio";
/// Gauge: a User's usage in the current GB month over its forecast or its Annex 5 Table 5.3
/// Monthly Service Threshold, by `user`, `item` (group or metric), `against` (`forecast`,
/// `threshold`) and `month`; 1.1 and above is reportable.
pub const DEMAND_USAGE_RATIO: &str = "hubgate_demand_usage_ratio";
/// Counter: cryptographic operations the process performed, by `op` (`ecdsa_verify`,
/// `ecdsa_sign`, `ecdh`, `gmac`, `cipher`); the end-to-end benchmark's ceiling.
pub const CRYPTO_OPERATIONS_TOTAL: &str = "hubgate_crypto_operations_total";

/// Every name above.
pub const ALL: &[&str] = &[
    INGRESS_REQUESTS_TOTAL,
    INGRESS_REQUEST_SECONDS,
    INGRESS_STAGE_SECONDS,
    INGRESS_REJECTED_TOTAL,
    ANOMALY_CHECKS_TOTAL,
    QUARANTINE_REQUESTS_TOTAL,
    QUARANTINE_HELD_MESSAGES,
    QUARANTINE_OUTCOMES_TOTAL,
    VERIFIER_BATCH_JOBS,
    VERIFIER_QUEUE_DEPTH_JOBS,
    VERIFIER_REJECTED_TOTAL,
    VERIFIER_JOBS_TOTAL,
    DELIVERY_DELIVERED_TOTAL,
    DELIVERY_FAILED_ATTEMPTS_TOTAL,
    DELIVERY_RETRIES_TOTAL,
    DELIVERY_UNDELIVERED_TOTAL,
    DELIVERY_REFUSED_TOTAL,
    DELIVERY_ACKNOWLEDGED_TOTAL,
    DELIVERY_BACKLOG_MESSAGES,
    DELIVERY_PENDING_MESSAGES,
    DELIVERY_LATENCY_SECONDS,
    REGISTRATION_PUSHES_TOTAL,
    STORE_COMMIT_BATCH_WRITES,
    STORE_COMMIT_SECONDS,
    STORE_WRITE_SECONDS,
    STORE_COMMIT_REFUSED_TOTAL,
    STORE_DEGRADED,
    STORE_WRITE_FAILURES_TOTAL,
    STORE_PROBES_TOTAL,
    ROUTING_COMMANDS_TOTAL,
    ROUTING_DEFERRED,
    FUTURE_DATED_CANCELLED_TOTAL,
    ROUTING_RECOVERED_TOTAL,
    ROUTING_ANSWERS_TOTAL,
    ROUTING_ANSWERS_LOST_TOTAL,
    ALERTS_TOTAL,
    ALERTS_THROTTLED_TOTAL,
    ALERTS_THROTTLE_SUMMARIES_TOTAL,
    ALERTS_DROPPED_TOTAL,
    ALERTS_BACKPRESSURE_TOTAL,
    FIRMWARE_DISTRIBUTIONS_TOTAL,
    FIRMWARE_CHUNKS_TOTAL,
    ROUTING_ALERT_QUEUE_MESSAGES,
    ROUTING_ALERT_QUEUE_PEAK_MESSAGES,
    QUARANTINE_ALERTS_TOTAL,
    QUARANTINE_RESPONSES_TOTAL,
    TARGET_TIME_TOTAL,
    PERFORMANCE_WITHIN_RATIO,
    DEMAND_USAGE_RATIO,
    CRYPTO_OPERATIONS_TOTAL,
];

/// Copies the process's cryptographic operation counts
/// ([`hubgate_protocol::crypto::ops`]) into [`CRYPTO_OPERATIONS_TOTAL`]; called before each
/// scrape.
pub fn publish_crypto_operations() {
    use hubgate_protocol::crypto::ops::{Op, total};
    for op in Op::ALL {
        metrics::counter!(CRYPTO_OPERATIONS_TOTAL, "op" => op.as_str()).absolute(total(op));
    }
}

/// Registers the HELP text of every metric with the installed recorder.
pub fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        INGRESS_REQUESTS_TOTAL,
        "DUIS requests answered, by service, SRV, CommandVariant and response code"
    );
    describe_histogram!(
        INGRESS_REQUEST_SECONDS,
        metrics::Unit::Seconds,
        "Time to answer a DUIS request"
    );
    describe_histogram!(
        INGRESS_STAGE_SECONDS,
        metrics::Unit::Seconds,
        "Time spent in each ingress stage"
    );
    describe_counter!(INGRESS_REJECTED_TOTAL, "DUIS requests refused, by H4 check");
    describe_counter!(
        TARGET_TIME_TOTAL,
        "Service Responses and alerts by SEC target category (on_demand 30 s, alert 60 s) and whether within it"
    );
    describe_gauge!(
        PERFORMANCE_WITHIN_RATIO,
        "Share of the month's answers delivered within their SEC Target Response Time, by category and GB month"
    );
    describe_gauge!(
        DEMAND_USAGE_RATIO,
        "A User's usage in the month over its forecast or Table 5.3 threshold (1.1 and above is reportable)"
    );
    describe_counter!(
        CRYPTO_OPERATIONS_TOTAL,
        "ECDSA, ECDH, GMAC and payload-cipher operations performed, by operation"
    );
    describe_counter!(ANOMALY_CHECKS_TOTAL, "Anomaly-detection checks run");
    describe_counter!(
        QUARANTINE_REQUESTS_TOTAL,
        "Requests quarantined by anomaly detection, by the window whose threshold they breached"
    );
    describe_gauge!(
        QUARANTINE_HELD_MESSAGES,
        metrics::Unit::Count,
        "Quarantined requests and alerts held, waiting for an operator"
    );
    describe_counter!(
        QUARANTINE_OUTCOMES_TOTAL,
        "Quarantined requests and alerts released or deleted by an operator, by outcome"
    );
    describe_histogram!(
        VERIFIER_BATCH_JOBS,
        metrics::Unit::Count,
        "Signature checks taken per verifier wake-up"
    );
    describe_gauge!(
        VERIFIER_QUEUE_DEPTH_JOBS,
        metrics::Unit::Count,
        "Signature checks waiting"
    );
    describe_counter!(
        VERIFIER_REJECTED_TOTAL,
        "Requests refused because the verifier queue was full"
    );
    describe_counter!(
        VERIFIER_JOBS_TOTAL,
        "Signatures verified, inline on an idle pool or on a pool thread"
    );
    describe_histogram!(
        STORE_COMMIT_BATCH_WRITES,
        metrics::Unit::Count,
        "Writes sharing one durable store commit (a barrier making the response writer's answers durable counts as one)"
    );
    describe_histogram!(
        STORE_COMMIT_SECONDS,
        metrics::Unit::Seconds,
        "Time of one group commit, fsync included"
    );
    describe_histogram!(
        STORE_WRITE_SECONDS,
        metrics::Unit::Seconds,
        "Time a store write waited for the store's single writer (phase=wait) and held it, commit included (phase=held)"
    );
    describe_counter!(
        ROUTING_COMMANDS_TOTAL,
        "Device commands handed to Communications Hub actors"
    );
    describe_gauge!(
        ROUTING_DEFERRED,
        "Device requests held until their DSP future-dated execution time"
    );
    describe_counter!(
        FUTURE_DATED_CANCELLED_TOTAL,
        "Future-dated requests cancelled before their execution time, by pattern (dsp, device, superseded)"
    );
    describe_counter!(
        ROUTING_RECOVERED_TOTAL,
        "Journaled requests sent again (resent) or answered (answered) after a restart"
    );
    describe_counter!(
        ROUTING_ANSWERS_TOTAL,
        "Service Responses and Device Alerts queued for delivery to Users"
    );
    describe_counter!(
        ROUTING_ANSWERS_LOST_TOTAL,
        "Answers the outbox refused (User at its message limit, store failure)"
    );
    describe_counter!(
        ALERTS_TOTAL,
        "Alert messages (device, future-dated outcome, DCC) queued for Users, one per receiving User"
    );
    describe_counter!(
        ALERTS_THROTTLED_TOTAL,
        "Device alerts held back by alert-storm throttling (counted into a summary alert)"
    );
    describe_counter!(
        ALERTS_THROTTLE_SUMMARIES_TOTAL,
        "Throttle summary alerts (carrying ThrottledAlertCount) sent for closed throttle windows"
    );
    describe_counter!(
        ALERTS_DROPPED_TOTAL,
        "Device alerts dropped because the alert queue stayed full, by reason"
    );
    describe_counter!(
        FIRMWARE_DISTRIBUTIONS_TOTAL,
        "SR 11.1 firmware distributions finished (every device with an outcome)"
    );
    describe_counter!(
        FIRMWARE_CHUNKS_TOTAL,
        "Firmware image chunks accepted by Communications Hubs"
    );
    describe_counter!(
        ALERTS_BACKPRESSURE_TOTAL,
        "Times a producer of device alerts waited for room in the full alert queue, by where (smwan, hub)"
    );
    describe_gauge!(
        ROUTING_ALERT_QUEUE_MESSAGES,
        metrics::Unit::Count,
        "Device alerts waiting for the response writer"
    );
    describe_gauge!(
        ROUTING_ALERT_QUEUE_PEAK_MESSAGES,
        metrics::Unit::Count,
        "Most device alerts that waited for the response writer at once since start"
    );
    describe_counter!(
        QUARANTINE_ALERTS_TOTAL,
        "Device alerts quarantined because their hub breached its alert threshold, by window"
    );
    describe_counter!(
        QUARANTINE_RESPONSES_TOTAL,
        "Service Responses quarantined because their hub breached its response threshold, by window"
    );
    describe_counter!(
        STORE_COMMIT_REFUSED_TOTAL,
        "Writes refused because the store's commit queue was full"
    );
    describe_gauge!(
        STORE_DEGRADED,
        "1 while the store cannot write (disk full, I/O error) and new requests are refused"
    );
    describe_counter!(
        STORE_WRITE_FAILURES_TOTAL,
        "Store writes that failed with an I/O error"
    );
    describe_counter!(
        STORE_PROBES_TOTAL,
        "Recovery probes of a degraded store, by outcome"
    );
    describe_counter!(
        DELIVERY_DELIVERED_TOTAL,
        "Responses and alerts delivered to a User's endpoint, by kind"
    );
    describe_counter!(
        DELIVERY_FAILED_ATTEMPTS_TOTAL,
        "Failed delivery attempts, by reason"
    );
    describe_counter!(
        DELIVERY_RETRIES_TOTAL,
        "Failed delivery attempts that will be retried"
    );
    describe_counter!(
        DELIVERY_UNDELIVERED_TOTAL,
        "Messages kept for the User to pull instead of delivered, by kind and reason"
    );
    describe_counter!(
        DELIVERY_REFUSED_TOTAL,
        "Messages refused because their User already had the most messages held"
    );
    describe_counter!(
        DELIVERY_ACKNOWLEDGED_TOTAL,
        "Kept messages acknowledged by their User after pulling them"
    );
    describe_gauge!(
        DELIVERY_BACKLOG_MESSAGES,
        metrics::Unit::Count,
        "Messages kept for Users to pull"
    );
    describe_gauge!(
        DELIVERY_PENDING_MESSAGES,
        metrics::Unit::Count,
        "Messages waiting to be delivered to a User's endpoint"
    );
    describe_histogram!(
        DELIVERY_LATENCY_SECONDS,
        metrics::Unit::Seconds,
        "Time from a message being submitted to its delivery"
    );
    describe_counter!(
        REGISTRATION_PUSHES_TOTAL,
        "Registration Data pushes, by outcome"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_convention() {
        let mut seen = std::collections::HashSet::new();
        for name in ALL {
            assert!(name.starts_with("hubgate_"), "{name}");
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}"
            );
            assert!(
                name.ends_with("_total")
                    || name.ends_with("_seconds")
                    || name.ends_with("_jobs")
                    || name.ends_with("_messages")
                    || name.ends_with("_writes")
                    || name.ends_with("_ratio")
                    // A 0/1 state gauge.
                    || *name == STORE_DEGRADED,
                "{name}: unit suffix"
            );
            assert!(seen.insert(name), "{name} listed twice");
        }
    }

    #[test]
    fn every_name_declared_here_is_listed() {
        let source = include_str!("metric_name.rs");
        let declared: Vec<&str> = source
            .lines()
            .filter_map(|l| l.strip_prefix("pub const "))
            .filter_map(|l| l.split_once(": &str = \""))
            .filter_map(|(_, rest)| rest.split('"').next())
            .collect();
        assert!(declared.len() > 10);
        for name in declared {
            assert!(ALL.contains(&name), "{name} is declared but not in ALL");
        }
    }
}
