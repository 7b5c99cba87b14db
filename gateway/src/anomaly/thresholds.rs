//! Request-count thresholds per User and SRV: the defaults derived from SEC Annex 5
//! Table 5.3, and the operator's overrides (`anomaly.overrides`).
//!
//! # The defaults
//!
//! Table 5.3 gives *Monthly Service Thresholds* as Service Requests per Smart Metering
//! System (SMS) for four Service References, and for suppliers (EIS, EES, GIS) and network
//! operators (ENO, GNO) separately. Each is turned into a daily volume per SMS (a month taken
//! as 30 days, a year as 365):
//!
//! | class | Table 5.3 row | requests per SMS per day |
//! |---|---|---|
//! | `profile_supplier`: 4.8.x sent as IS, ES or GS | 4.8, "number of calendar days in the month" | 1 |
//! | `profile_network`: 4.8.x sent as ED or GT | 4.8, 10⁻³ × 48 × days in the month | 0.048 |
//! | `display`: 3.1 | 3.1, 24 over twelve months | 24 / 365 |
//! | `firmware`: 11.1 | 11.1, 6 over twelve months | 6 / 365 |
//! | `network_data`: 4.10 | 4.10, 10⁻³ × days in the month | 0.001 |
//! | `other`: every other SRV and role | none; the busiest row above (4.8 for a supplier) | 1 |
//!
//! A User's daily volume is that rate times `anomaly.estate_size` (the Smart Metering
//! Systems a User is assumed to serve; default 1 000 000). The window thresholds allow
//! `anomaly.burst_factor` (default 10) times the even rate of that volume:
//!
//! ```text
//! per_hour   = ceil(daily × estate_size / 24   × burst_factor)
//! per_minute = ceil(daily × estate_size / 1440 × burst_factor)
//! ```
//!
//! With the defaults: `profile_supplier` and `other` 6 945 a minute and 416 667 an hour;
//! `profile_network` 334 and 20 000; `display` 457 and 27 398; `firmware` 115 and 6 850;
//! `network_data` 7 and 417. Table 5.3 bounds a month; nothing in it bounds a minute, so
//! the burst factor is this gateway's choice, and the DCC agrees real values with its Users
//! (SEC: "numeric thresholds … agreed with DCC Service Users"): set them with overrides.
//!
//! # Overrides
//!
//! `anomaly.overrides` is a list of rules separated by `;` (or new lines), each
//! `USER:SRV=PER_MINUTE,PER_HOUR`: `USER` a User ID or `*`, `SRV` a Service Reference
//! Variant or `*`, each limit a count or `-` for none. The most specific rule wins —
//! `User:SRV`, then `User:*`, then `*:SRV`, then `*:*`, then the class default — and
//! replaces both limits. Example: `90-B3-D5-1F-30-01-00-00:4.1.1=3,-; *:11.1=20,100`.

use std::collections::HashMap;

use hubgate_protocol::catalogue::{Catalogue, Role};

/// The limits of one User and SRV: the most requests allowed in a sliding minute and hour
/// (`None`: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limit {
    /// Requests in the last minute.
    pub per_minute: Option<u64>,
    /// Requests in the last hour.
    pub per_hour: Option<u64>,
}

impl Limit {
    /// Whether it limits anything.
    pub fn is_none(&self) -> bool {
        self.per_minute.is_none() && self.per_hour.is_none()
    }
}

/// The SRV classes of Table 5.3 (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// 4.8.x sent as a supplier.
    ProfileSupplier,
    /// 4.8.x sent as a network operator.
    ProfileNetwork,
    /// 3.1 Display Message.
    Display,
    /// 11.1 Update Firmware.
    Firmware,
    /// 4.10 Read Network Data.
    NetworkData,
    /// Everything else.
    Other,
}

impl Class {
    /// The class of `srv` sent under `role`.
    pub fn of(srv: &str, role: Role) -> Class {
        let reference = Catalogue::get()
            .srv(srv)
            .map_or(srv, |s| s.service_reference.as_str());
        match reference {
            "4.8" => match role {
                Role::ElectricityDistributor | Role::GasTransporter => Class::ProfileNetwork,
                Role::ImportSupplier | Role::ExportSupplier | Role::GasSupplier => {
                    Class::ProfileSupplier
                }
                _ => Class::Other,
            },
            "3.1" => Class::Display,
            "11.1" => Class::Firmware,
            "4.10" => Class::NetworkData,
            _ => Class::Other,
        }
    }

    /// Requests per Smart Metering System per day (Table 5.3, as derived above), as a
    /// fraction `(numerator, denominator)`.
    pub fn daily_per_sms(self) -> (u64, u64) {
        match self {
            Class::ProfileSupplier | Class::Other => (1, 1),
            Class::ProfileNetwork => (48, 1000),
            Class::Display => (24, 365),
            Class::Firmware => (6, 365),
            Class::NetworkData => (1, 1000),
        }
    }

    /// The default limit for an estate of `estate_size` SMS and `burst_factor`.
    pub fn default_limit(self, estate_size: u64, burst_factor: u32) -> Limit {
        let (num, den) = self.daily_per_sms();
        let daily = u128::from(num) * u128::from(estate_size) * u128::from(burst_factor);
        let ceil = |per: u128| {
            let d = u128::from(den) * per;
            u64::try_from(daily.div_ceil(d).max(1)).unwrap_or(u64::MAX)
        };
        Limit {
            per_minute: Some(ceil(1440)),
            per_hour: Some(ceil(24)),
        }
    }
}

/// Why `anomaly.overrides` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule {rule:?}: {reason}")]
pub struct OverrideError {
    /// The rule.
    pub rule: String,
    /// What is wrong.
    pub reason: String,
}

/// Who a rule applies to.
type RuleKey = (Option<[u8; 8]>, Option<String>);

/// Reads `anomaly.overrides`.
///
/// # Errors
///
/// [`OverrideError`] naming the first bad rule.
pub fn parse_overrides(text: &str) -> Result<HashMap<RuleKey, Limit>, OverrideError> {
    let mut rules = HashMap::new();
    for rule in text
        .split([';', '\n'])
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        let bad = |reason: &str| OverrideError {
            rule: rule.to_string(),
            reason: reason.to_string(),
        };
        let (who, limits) = rule
            .split_once('=')
            .ok_or_else(|| bad("expected USER:SRV=PER_MINUTE,PER_HOUR"))?;
        // A User ID in DUIS form holds '-' but never ':'; the SRV follows the last ':'.
        let (user, srv) = who
            .trim()
            .rsplit_once(':')
            .ok_or_else(|| bad("expected USER:SRV before '=' (either may be *)"))?;
        let user = match user.trim() {
            "*" => None,
            u => Some(
                hubgate_protocol::hex::parse_eui(u)
                    .ok_or_else(|| bad(&format!("{u:?} is not a User ID or *")))?,
            ),
        };
        let srv = match srv.trim() {
            "*" => None,
            s if Catalogue::get().srv(s).is_some() => Some(s.to_string()),
            s => {
                return Err(bad(&format!(
                    "{s:?} is not a Service Reference Variant or *"
                )));
            }
        };
        let (minute, hour) = limits
            .split_once(',')
            .ok_or_else(|| bad("expected two limits, PER_MINUTE,PER_HOUR (- for none)"))?;
        let count = |v: &str| -> Result<Option<u64>, OverrideError> {
            match v.trim() {
                "-" => Ok(None),
                n => n
                    .parse::<u64>()
                    .map(Some)
                    .map_err(|_| bad(&format!("{n:?} is not a count or -"))),
            }
        };
        let limit = Limit {
            per_minute: count(minute)?,
            per_hour: count(hour)?,
        };
        if rules.insert((user, srv), limit).is_some() {
            return Err(bad("a rule for the same User and SRV comes earlier"));
        }
    }
    Ok(rules)
}

/// The limits in force: defaults by class and the overrides.
#[derive(Debug, Clone)]
pub struct Thresholds {
    estate_size: u64,
    burst_factor: u32,
    overrides: HashMap<RuleKey, Limit>,
}

impl Thresholds {
    /// Defaults for `estate_size` and `burst_factor`, then the `overrides` text.
    ///
    /// # Errors
    ///
    /// [`OverrideError`].
    pub fn new(
        estate_size: u64,
        burst_factor: u32,
        overrides: &str,
    ) -> Result<Thresholds, OverrideError> {
        Ok(Thresholds {
            estate_size,
            burst_factor,
            overrides: parse_overrides(overrides)?,
        })
    }

    /// The limit for `user` sending `srv` as `role`.
    pub fn limit(&self, user: &[u8; 8], srv: &str, role: Role) -> Limit {
        if !self.overrides.is_empty() {
            let srv = Some(srv.to_string());
            for key in [
                (Some(*user), srv.clone()),
                (Some(*user), None),
                (None, srv),
                (None, None),
            ] {
                if let Some(l) = self.overrides.get(&key) {
                    return *l;
                }
            }
        }
        Class::of(srv, role).default_limit(self.estate_size, self.burst_factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_table_5_3() {
        let l = |srv, role| Class::of(srv, role).default_limit(1_000_000, 10);
        assert_eq!(
            l("4.8.1", Role::ImportSupplier),
            Limit {
                per_minute: Some(6945),
                per_hour: Some(416_667)
            }
        );
        assert_eq!(
            l("4.8.1", Role::ElectricityDistributor),
            Limit {
                per_minute: Some(334),
                per_hour: Some(20_000)
            }
        );
        assert_eq!(l("3.1", Role::ImportSupplier).per_minute, Some(457));
        assert_eq!(l("11.1", Role::ImportSupplier).per_minute, Some(115));
        assert_eq!(
            l("4.10", Role::ElectricityDistributor),
            Limit {
                per_minute: Some(7),
                per_hour: Some(417)
            }
        );
        assert_eq!(Class::of("4.1.1", Role::ImportSupplier), Class::Other);
        // Never below one request.
        assert_eq!(
            Class::NetworkData.default_limit(1, 1),
            Limit {
                per_minute: Some(1),
                per_hour: Some(1)
            }
        );
    }

    #[test]
    fn the_most_specific_override_wins() {
        let user = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x01, 0, 0];
        let other = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x02, 0, 0];
        let t = Thresholds::new(
            1000,
            1,
            "90-B3-D5-1F-30-01-00-00:4.1.1=3,-; 90B3D51F30010000:*=5,50\n*:4.1.1=7,70; *:*=-,-",
        )
        .unwrap();
        let r = Role::ImportSupplier;
        assert_eq!(
            t.limit(&user, "4.1.1", r),
            Limit {
                per_minute: Some(3),
                per_hour: None
            }
        );
        assert_eq!(t.limit(&user, "8.2", r).per_minute, Some(5));
        assert_eq!(t.limit(&other, "4.1.1", r).per_hour, Some(70));
        assert!(t.limit(&other, "8.2", r).is_none());
        let none = Thresholds::new(1000, 1, "").unwrap();
        assert_eq!(
            none.limit(&user, "4.1.1", r),
            Class::Other.default_limit(1000, 1)
        );
    }

    #[test]
    fn bad_rules_are_named() {
        for (text, needle) in [
            ("4.1.1=3,4", "USER:SRV"),
            ("*:4.1.1=3", "two limits"),
            ("*:9.9.9=3,4", "not a Service Reference Variant"),
            ("XYZ:4.1.1=3,4", "not a User ID"),
            ("*:4.1.1=x,4", "not a count"),
            ("*:*=1,2;*:*=3,4", "same User and SRV"),
        ] {
            let e = parse_overrides(text).unwrap_err();
            assert!(e.to_string().contains(needle), "{text}: {e}");
        }
    }
}
