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
/// Histogram: jobs taken per wake-up of a verifier thread.
pub const VERIFIER_BATCH_JOBS: &str = "hubgate_verifier_batch_jobs";
/// Gauge: jobs waiting for a verifier thread.
pub const VERIFIER_QUEUE_DEPTH_JOBS: &str = "hubgate_verifier_queue_depth_jobs";
/// Counter: requests refused because the verifier queue was full.
pub const VERIFIER_REJECTED_TOTAL: &str = "hubgate_verifier_rejected_total";

/// Every name above.
pub const ALL: &[&str] = &[
    INGRESS_REQUESTS_TOTAL,
    INGRESS_REQUEST_SECONDS,
    INGRESS_STAGE_SECONDS,
    INGRESS_REJECTED_TOTAL,
    ANOMALY_CHECKS_TOTAL,
    VERIFIER_BATCH_JOBS,
    VERIFIER_QUEUE_DEPTH_JOBS,
    VERIFIER_REJECTED_TOTAL,
];

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
    describe_counter!(ANOMALY_CHECKS_TOTAL, "Anomaly-detection checks run");
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
                name.ends_with("_total") || name.ends_with("_seconds") || name.ends_with("_jobs"),
                "{name}: unit suffix"
            );
            assert!(seen.insert(name), "{name} listed twice");
        }
    }
}
