//! Every metric this crate exports, in one place. Names follow the gateway's convention
//! `hubgate_<subsystem>_<what>_<unit>` with the subsystem `actors`: `_total` for counters,
//! `_seconds` for durations; labels come from small fixed sets (outcome, code, kind, reason,
//! scope), never a hub, device or User ID.

/// Gauge: hub actors alive now (activated and not yet passivated).
pub const ACTIVE_HUBS: &str = "hubgate_actors_active_hubs";
/// Gauge: commands accepted by a hub and not yet sent to the device.
pub const QUEUED_COMMANDS: &str = "hubgate_actors_queued_commands";
/// Gauge: commands sent to a device and waiting for its response.
pub const IN_FLIGHT_COMMANDS: &str = "hubgate_actors_in_flight_commands";
/// Histogram: commands a hub held (queued and in flight) when it accepted one more.
pub const HUB_QUEUE_DEPTH_COMMANDS: &str = "hubgate_actors_hub_queue_depth_commands";
/// Counter: commands finished, by `outcome` (`response`, `E20`, `E21`).
pub const COMMANDS_TOTAL: &str = "hubgate_actors_commands_total";
/// Counter: commands that ended without a response, by DUIS `code` (`E20`: never reached the
/// device; `E21`: sent, no response in time).
pub const TIMEOUTS_TOTAL: &str = "hubgate_actors_timeouts_total";
/// Histogram: seconds from a command being handed to the link to its verified response.
pub const ROUND_TRIP_SECONDS: &str = "hubgate_actors_round_trip_seconds";
/// Counter: responses and alerts rejected by authentication, by `kind` (`mac`, `signature`,
/// `unprotected`, `no_key`, `internal`).
pub const AUTH_FAILURES_TOTAL: &str = "hubgate_actors_auth_failures_total";
/// Counter: inbound messages dropped without authentication or delivery, by `reason`
/// (`unmatched`, `malformed`, `command`, `replay`).
pub const DROPPED_TOTAL: &str = "hubgate_actors_dropped_total";
/// Counter: authenticated device alerts handed to the sink.
pub const ALERTS_TOTAL: &str = "hubgate_actors_alerts_total";
/// Counter: submissions and deliveries refused for lack of room, by `scope` (`hub`,
/// `system`) and `kind` (`command`, `inbound`, `control`).
pub const SATURATED_TOTAL: &str = "hubgate_actors_saturated_total";
/// Counter: hub actors started (first message, or first after a passivation).
pub const ACTIVATIONS_TOTAL: &str = "hubgate_actors_activations_total";
/// Counter: hub actors stopped after writing their state, by `reason` (`idle`, `shutdown`).
pub const PASSIVATIONS_TOTAL: &str = "hubgate_actors_passivations_total";
/// Counter: commands the link refused to carry (each ends as an `E20` outcome).
pub const LINK_FAILURES_TOTAL: &str = "hubgate_actors_link_failures_total";
/// Counter: state store failures, by `op` (`get`, `put`, `decode`).
pub const STATE_STORE_FAILURES_TOTAL: &str = "hubgate_actors_state_store_failures_total";

/// Every name above.
pub const ALL: &[&str] = &[
    ACTIVE_HUBS,
    QUEUED_COMMANDS,
    IN_FLIGHT_COMMANDS,
    HUB_QUEUE_DEPTH_COMMANDS,
    COMMANDS_TOTAL,
    TIMEOUTS_TOTAL,
    ROUND_TRIP_SECONDS,
    AUTH_FAILURES_TOTAL,
    DROPPED_TOTAL,
    ALERTS_TOTAL,
    SATURATED_TOTAL,
    ACTIVATIONS_TOTAL,
    PASSIVATIONS_TOTAL,
    LINK_FAILURES_TOTAL,
    STATE_STORE_FAILURES_TOTAL,
];

/// Registers the HELP text of every metric with the installed recorder.
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(ACTIVE_HUBS, Unit::Count, "Communications Hub actors alive");
    describe_gauge!(
        QUEUED_COMMANDS,
        Unit::Count,
        "Commands accepted by a hub actor and not yet sent"
    );
    describe_gauge!(
        IN_FLIGHT_COMMANDS,
        Unit::Count,
        "Commands sent to a device and waiting for a response"
    );
    describe_histogram!(
        HUB_QUEUE_DEPTH_COMMANDS,
        Unit::Count,
        "Commands a hub held when it accepted one more"
    );
    describe_counter!(COMMANDS_TOTAL, "Commands finished, by outcome");
    describe_counter!(
        TIMEOUTS_TOTAL,
        "Commands that ended without a response, by DUIS response code"
    );
    describe_histogram!(
        ROUND_TRIP_SECONDS,
        Unit::Seconds,
        "Time from handing a command to the link to its verified response"
    );
    describe_counter!(
        AUTH_FAILURES_TOTAL,
        "Responses and alerts rejected by MAC or signature checks, by kind"
    );
    describe_counter!(
        DROPPED_TOTAL,
        "Inbound messages dropped before delivery, by reason"
    );
    describe_counter!(ALERTS_TOTAL, "Authenticated device alerts handed on");
    describe_counter!(
        SATURATED_TOTAL,
        "Submissions refused for lack of room, by scope and kind"
    );
    describe_counter!(ACTIVATIONS_TOTAL, "Hub actors started");
    describe_counter!(
        PASSIVATIONS_TOTAL,
        "Hub actors stopped after writing their state, by reason"
    );
    describe_counter!(
        LINK_FAILURES_TOTAL,
        "Commands the hub link refused to carry"
    );
    describe_counter!(STATE_STORE_FAILURES_TOTAL, "State store failures, by op");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_convention_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for name in ALL {
            assert!(name.starts_with("hubgate_actors_"), "{name}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{name}"
            );
            assert!(seen.insert(*name), "duplicate {name}");
        }
        assert_eq!(ALL.len(), 15);
    }
}
