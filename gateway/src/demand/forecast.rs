//! Six-month forecasts of Service Requests, as Users submit them.
//!
//! A forecast is JSON:
//!
//! ```json
//! {"user": "90-B3-D5-1F-30-01-00-00",
//!  "months": {"2026-11": {"all": 5000, "display_message": 40, "read_profile_data_supplier": 900},
//!             "2026-12": {…}, "2027-01": {…}, "2027-02": {…}, "2027-03": {…}, "2027-04": {…}}}
//! ```
//!
//! - `user`: the User the forecast is for (DUIS form or 16 hex digits). A User submitting its
//!   own may leave it out; an operator must give it.
//! - `months`: exactly six consecutive GB months, `YYYY-MM`, the first no earlier than the
//!   current month; each maps one or more groups (`all` and the Table 5.3 groups of
//!   [`super::Group`]) to the Service Requests expected in that month, a whole number from 0
//!   to 10¹².
//!
//! A forecast replaces what was stored for the same User and months. Anything else is
//! refused with the field named: `months.2026-12.display_mesage: unknown group (expected
//! one of …)`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Group;
use crate::performance::Month;

/// Months a forecast covers.
pub const MONTHS: usize = 6;
/// The largest count a forecast may give.
pub const MAX_COUNT: u64 = 1_000_000_000_000;

/// Who submits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitter {
    /// A User, for itself only.
    User([u8; 8]),
    /// An operator holding the admin token, for any User.
    Operator,
}

/// One month of a forecast, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    /// Expected Service Requests per group label.
    pub requests: BTreeMap<String, u64>,
    /// When it was submitted (RFC 3339).
    pub submitted_at: String,
    /// `user` or `operator`.
    pub submitted_by: String,
}

impl Stored {
    /// The forecast for `group`, if given.
    pub fn get(&self, group: Group) -> Option<u64> {
        self.requests.get(group.label()).copied()
    }
}

/// A checked forecast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forecast {
    /// The User.
    pub user: [u8; 8],
    /// Its six months.
    pub months: Vec<(Month, Stored)>,
}

/// Why a forecast was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ForecastError {
    /// The field, as a path (`months.2026-12.all`), or `body`.
    pub field: String,
    /// What is wrong.
    pub reason: String,
    /// The submitter may not submit this forecast at all (a User naming another User).
    pub forbidden: bool,
}

fn bad(field: impl Into<String>, reason: impl Into<String>) -> ForecastError {
    ForecastError {
        field: field.into(),
        reason: reason.into(),
        forbidden: false,
    }
}

fn group_list() -> String {
    Group::ALL
        .iter()
        .map(|g| g.label())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads and checks a forecast submitted by `by` when the month is `current`, at `now_ms`.
///
/// # Errors
///
/// [`ForecastError`] naming the first bad field.
pub fn parse(
    body: &[u8],
    by: Submitter,
    current: Month,
    now_ms: i64,
) -> Result<Forecast, ForecastError> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| bad("body", format!("not JSON: {e}")))?;
    let serde_json::Value::Object(top) = value else {
        return Err(bad("body", "expected a JSON object with user and months"));
    };
    for key in top.keys() {
        if key != "user" && key != "months" {
            return Err(bad(key.as_str(), "unknown field (expected user, months)"));
        }
    }
    let named = match top.get("user") {
        None => None,
        Some(serde_json::Value::String(s)) => Some(
            hubgate_protocol::hex::parse_eui(s)
                .ok_or_else(|| bad("user", format!("{s:?} is not a User ID")))?,
        ),
        Some(_) => return Err(bad("user", "expected a User ID as a string")),
    };
    let user = match (by, named) {
        (Submitter::User(me), None) => me,
        (Submitter::User(me), Some(u)) if u == me => me,
        (Submitter::User(me), Some(u)) => {
            return Err(ForecastError {
                field: "user".into(),
                reason: format!(
                    "authenticated as User {}: a User submits its own forecast only, not {}'s",
                    hubgate_protocol::hex::eui_duis(&me),
                    hubgate_protocol::hex::eui_duis(&u)
                ),
                forbidden: true,
            });
        }
        (Submitter::Operator, Some(u)) => u,
        (Submitter::Operator, None) => {
            return Err(bad("user", "missing: an operator names the User"));
        }
    };
    let Some(months) = top.get("months") else {
        return Err(bad("months", "missing: six months of YYYY-MM"));
    };
    let serde_json::Value::Object(months) = months else {
        return Err(bad(
            "months",
            "expected an object of YYYY-MM: {group: count}",
        ));
    };
    if months.len() != MONTHS {
        return Err(bad(
            "months",
            format!("{} months given, a forecast covers {MONTHS}", months.len()),
        ));
    }
    let mut parsed: Vec<(Month, &serde_json::Value, &str)> = Vec::with_capacity(MONTHS);
    for (key, v) in months {
        let month = Month::parse(key).map_err(|e| bad(format!("months.{key}"), e.to_string()))?;
        parsed.push((month, v, key.as_str()));
    }
    parsed.sort_by_key(|(m, _, _)| *m);
    if let Some((first, _, key)) = parsed.first()
        && *first < current
    {
        return Err(bad(
            format!("months.{key}"),
            format!("in the past: a forecast starts in the current month ({current}) or later"),
        ));
    }
    for pair in parsed.windows(2) {
        if pair[0].0.next() != pair[1].0 {
            return Err(bad(
                format!("months.{}", pair[1].2),
                format!(
                    "not the month after {}: the six months must be consecutive",
                    pair[0].0
                ),
            ));
        }
    }
    let submitted_at = crate::clock::rfc3339_ms(now_ms);
    let submitted_by = match by {
        Submitter::User(_) => "user",
        Submitter::Operator => "operator",
    };
    let mut out = Vec::with_capacity(MONTHS);
    for (month, v, key) in parsed {
        let serde_json::Value::Object(groups) = v else {
            return Err(bad(
                format!("months.{key}"),
                "expected an object of group: count",
            ));
        };
        if groups.is_empty() {
            return Err(bad(
                format!("months.{key}"),
                format!(
                    "no group forecast (expected one or more of {})",
                    group_list()
                ),
            ));
        }
        let mut requests = BTreeMap::new();
        for (g, n) in groups {
            let field = format!("months.{key}.{g}");
            if Group::from_label(g).is_none() {
                return Err(bad(
                    field,
                    format!("unknown group (expected one of {})", group_list()),
                ));
            }
            let count = n
                .as_u64()
                .ok_or_else(|| bad(field.clone(), "expected a whole number of Service Requests"))?;
            if count > MAX_COUNT {
                return Err(bad(field, format!("{count} is more than {MAX_COUNT}")));
            }
            requests.insert(g.clone(), count);
        }
        out.push((
            month,
            Stored {
                requests,
                submitted_at: submitted_at.clone(),
                submitted_by: submitted_by.to_string(),
            },
        ));
    }
    Ok(Forecast { user, months: out })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: [u8; 8] = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x01, 0, 0];

    fn m(s: &str) -> Month {
        Month::parse(s).unwrap()
    }

    fn body(months: &[&str], groups: &str) -> String {
        let inner: Vec<String> = months
            .iter()
            .map(|mo| format!("\"{mo}\": {groups}"))
            .collect();
        format!("{{\"months\": {{{}}}}}", inner.join(","))
    }

    const SIX: [&str; 6] = [
        "2026-11", "2026-12", "2027-01", "2027-02", "2027-03", "2027-04",
    ];

    #[test]
    fn a_user_submits_six_consecutive_months() {
        let f = parse(
            body(&SIX, r#"{"all": 100, "display_message": 2}"#).as_bytes(),
            Submitter::User(ME),
            m("2026-11"),
            0,
        )
        .unwrap();
        assert_eq!(f.user, ME);
        assert_eq!(f.months.len(), 6);
        assert_eq!(f.months[0].0, m("2026-11"));
        assert_eq!(f.months[5].0, m("2027-04"));
        assert_eq!(f.months[2].1.get(Group::DisplayMessage), Some(2));
        assert_eq!(f.months[2].1.get(Group::UpdateFirmware), None);
        assert_eq!(f.months[0].1.submitted_by, "user");
    }

    #[test]
    fn errors_name_the_field() {
        let now = m("2026-11");
        let cases: Vec<(String, Submitter, &str, &str)> = vec![
            ("[]".into(), Submitter::User(ME), "body", "JSON object"),
            ("{".into(), Submitter::User(ME), "body", "not JSON"),
            (
                r#"{"month": {}}"#.into(),
                Submitter::User(ME),
                "month",
                "unknown field",
            ),
            (
                body(&SIX[..5], r#"{"all": 1}"#),
                Submitter::User(ME),
                "months",
                "5 months",
            ),
            (
                body(
                    &[
                        "2026-10", "2026-11", "2026-12", "2027-01", "2027-02", "2027-03",
                    ],
                    r#"{"all": 1}"#,
                ),
                Submitter::User(ME),
                "months.2026-10",
                "in the past",
            ),
            (
                body(
                    &[
                        "2026-11", "2026-12", "2027-01", "2027-02", "2027-03", "2027-05",
                    ],
                    r#"{"all": 1}"#,
                ),
                Submitter::User(ME),
                "months.2027-05",
                "consecutive",
            ),
            (
                body(&SIX, r#"{"display_mesage": 1}"#),
                Submitter::User(ME),
                "months.2026-11.display_mesage",
                "unknown group",
            ),
            (
                body(&SIX, r#"{"all": -1}"#),
                Submitter::User(ME),
                "months.2026-11.all",
                "whole number",
            ),
            (
                body(&SIX, r#"{"all": 1.5}"#),
                Submitter::User(ME),
                "months.2026-11.all",
                "whole number",
            ),
            (
                body(&SIX, "{}"),
                Submitter::User(ME),
                "months.2026-11",
                "no group",
            ),
            (
                body(&SIX, r#"{"all": 1}"#),
                Submitter::Operator,
                "user",
                "operator names the User",
            ),
            (
                r#"{"user": "nobody", "months": {}}"#.into(),
                Submitter::Operator,
                "user",
                "not a User ID",
            ),
        ];
        for (text, by, field, needle) in cases {
            let e = parse(text.as_bytes(), by, now, 0).unwrap_err();
            assert_eq!(e.field, field, "{text}: {e}");
            assert!(e.to_string().contains(needle), "{text}: {e}");
            assert!(e.to_string().starts_with(&format!("{field}: ")), "{e}");
            assert!(!e.forbidden);
        }
        let bad_month = r#"{"months": {"2026-13": {}, "a": 1, "b": 1, "c": 1, "d": 1, "e": 1}}"#;
        let e = parse(bad_month.as_bytes(), Submitter::User(ME), now, 0).unwrap_err();
        assert_eq!(e.field, "months.2026-13", "{e}");
        // A User naming another User is forbidden; an operator may name any.
        let other =
            body(&SIX, r#"{"all": 1}"#).replacen('{', r#"{"user": "90-B3-D5-1F-30-02-00-00", "#, 1);
        let e = parse(other.as_bytes(), Submitter::User(ME), now, 0).unwrap_err();
        assert!(e.forbidden && e.field == "user", "{e}");
        let f = parse(other.as_bytes(), Submitter::Operator, now, 0).unwrap();
        assert_eq!(f.user[5], 2);
        assert_eq!(f.months[0].1.submitted_by, "operator");
    }
}
