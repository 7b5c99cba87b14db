//! The monthly demand report: per User, its Service Requests in the month against its
//! forecast, and its Monthly Service Metrics against their Monthly Service Thresholds
//! (Table 5.3, [`super::formulas`]); a row is *reportable* when usage is at or above 110 %
//! of the forecast or of the threshold (the DCC reports a User whose monthly usage is
//! "greater than or equal to 110 %" of either).
//!
//! Rows, for each User with requests in the twelve months to the month or a forecast for it:
//!
//! - `requests` rows, one per group (`all`, and each Table 5.3 group with requests in the
//!   month or a forecast): `actual` the requests in the month, `forecast` the forecast,
//!   `percent` of the forecast; without a forecast the row is not compared.
//! - `metric` rows, one per Table 5.3 metric whose group had requests in the twelve months:
//!   `actual` the metric's value, `threshold` the Monthly Service Threshold, `percent` of
//!   it; `note` says why a value is not determined (before the First Service Month, no
//!   enrolment count).

use serde::Serialize;

use super::formulas::{self, NotDetermined};
use super::{Group, Ledger};
use crate::performance::Month;
use hubgate_protocol::hex;

/// Whose Smart Metering Systems a metric divides by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// Those the User supplies.
    Supplier,
    /// Those for which the User is the Electricity Distributor or Gas Transporter.
    Network,
}

/// The rows of Table 5.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Metric {
    /// 3.1, IS GS: *R*₁₂ / ASMSm against 24.
    DisplayMessage12m,
    /// 4.8, IS ES GS: *R*ₘ / SMSₘ against the days in the month.
    ReadProfileDataSupplierMonth,
    /// 11.1, IS GS: *R*₁₂ / ASMSm against 6.
    UpdateFirmware12m,
    /// 4.8, ED GT: *R*ₘ / SMSₘ against 10⁻³ × 48 × days in the month.
    ReadProfileDataNetworkMonth,
    /// 4.8, ED GT: *R*₁₂ / ASMSm against 4.
    ReadProfileDataNetwork12m,
    /// 4.10, ED: *R*ₘ / SMSₘ against 10⁻³ × days in the month.
    ReadNetworkDataMonth,
    /// 4.10, ED: *R*₁₂ / ASMSm against 4.
    ReadNetworkData12m,
}

impl Metric {
    /// Every metric, in Table 5.3's order.
    pub const ALL: [Metric; 7] = [
        Metric::DisplayMessage12m,
        Metric::ReadProfileDataSupplierMonth,
        Metric::UpdateFirmware12m,
        Metric::ReadProfileDataNetworkMonth,
        Metric::ReadProfileDataNetwork12m,
        Metric::ReadNetworkDataMonth,
        Metric::ReadNetworkData12m,
    ];

    /// The label in the report.
    pub fn label(self) -> &'static str {
        match self {
            Metric::DisplayMessage12m => "display_message_12m",
            Metric::ReadProfileDataSupplierMonth => "read_profile_data_supplier_month",
            Metric::UpdateFirmware12m => "update_firmware_12m",
            Metric::ReadProfileDataNetworkMonth => "read_profile_data_network_month",
            Metric::ReadProfileDataNetwork12m => "read_profile_data_network_12m",
            Metric::ReadNetworkDataMonth => "read_network_data_month",
            Metric::ReadNetworkData12m => "read_network_data_12m",
        }
    }

    /// The requests it counts.
    pub fn group(self) -> Group {
        match self {
            Metric::DisplayMessage12m => Group::DisplayMessage,
            Metric::ReadProfileDataSupplierMonth => Group::ReadProfileDataSupplier,
            Metric::UpdateFirmware12m => Group::UpdateFirmware,
            Metric::ReadProfileDataNetworkMonth | Metric::ReadProfileDataNetwork12m => {
                Group::ReadProfileDataNetwork
            }
            Metric::ReadNetworkDataMonth | Metric::ReadNetworkData12m => Group::ReadNetworkData,
        }
    }

    /// Whose systems it divides by.
    pub fn party(self) -> Party {
        match self {
            Metric::DisplayMessage12m
            | Metric::ReadProfileDataSupplierMonth
            | Metric::UpdateFirmware12m => Party::Supplier,
            _ => Party::Network,
        }
    }

    /// Whether it is the month's requests over SMSₘ (else twelve months' over ASMSm).
    pub fn monthly(self) -> bool {
        matches!(
            self,
            Metric::ReadProfileDataSupplierMonth
                | Metric::ReadProfileDataNetworkMonth
                | Metric::ReadNetworkDataMonth
        )
    }

    /// The formula, as the report prints it.
    pub fn formula(self) -> &'static str {
        if self.monthly() {
            "R(m) / SMS(15th of m)"
        } else {
            "R(m-11..m) / ASMSm"
        }
    }

    /// The Monthly Service Threshold for month `m`.
    pub fn threshold(self, m: Month) -> f64 {
        let days = f64::from(formulas::days_in_month(m));
        match self {
            Metric::DisplayMessage12m => 24.0,
            Metric::ReadProfileDataSupplierMonth => days,
            Metric::UpdateFirmware12m => 6.0,
            Metric::ReadProfileDataNetworkMonth => 1e-3 * 48.0 * days,
            Metric::ReadProfileDataNetwork12m | Metric::ReadNetworkData12m => 4.0,
            Metric::ReadNetworkDataMonth => 1e-3 * days,
        }
    }

    /// The metric's value for `user` in `m`.
    ///
    /// # Errors
    ///
    /// [`NotDetermined`].
    pub fn value(self, ledger: &Ledger, user: &[u8; 8], m: Month) -> Result<f64, NotDetermined> {
        let fsm = ledger
            .first_request
            .get(user)
            .map(|first| formulas::first_service_month(*first))
            .ok_or(NotDetermined::BeforeFirstServiceMonth)?;
        if m < fsm {
            return Err(NotDetermined::BeforeFirstServiceMonth);
        }
        let party = self.party();
        let sms = |month: Month| {
            ledger.enrolled(month, user).map(|e| match party {
                Party::Supplier => e.supplier,
                Party::Network => e.network,
            })
        };
        let group = self.group();
        if self.monthly() {
            let on_15th = sms(m).ok_or(NotDetermined::NoEnrolmentCount(m))?;
            formulas::per_month(ledger.requests(m, user, group), on_15th)
        } else {
            formulas::rolling(&|month| ledger.requests(month, user, group), &sms, m, fsm)
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The User (DUIS form).
    pub user: String,
    /// `requests` or `metric`.
    pub kind: &'static str,
    /// The group or metric label.
    pub item: String,
    /// The Service Reference (`*`: any).
    pub service_reference: &'static str,
    /// The metric's formula (metric rows).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub formula: Option<&'static str>,
    /// Requests in the month, or the metric's value (four decimals); `None`: not
    /// determined.
    pub actual: Option<f64>,
    /// The forecast (requests rows).
    pub forecast: Option<u64>,
    /// The Monthly Service Threshold (metric rows).
    pub threshold: Option<f64>,
    /// What `percent` is of: `forecast`, `threshold`, or nothing.
    pub against: Option<&'static str>,
    /// `actual` as a percentage of it, two decimals.
    pub percent: Option<f64>,
    /// At or above 110 % of it.
    pub reportable: bool,
    /// Why a value or comparison is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip)]
    ratio: Option<f64>,
}

impl Row {
    /// `actual` over the forecast or threshold, unrounded.
    pub fn ratio(&self) -> Option<f64> {
        self.ratio
    }
}

/// The report of one month.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// `YYYY-MM`.
    pub month: String,
    /// Calendar days in it.
    pub days_in_month: u32,
    /// When the month's enrolment count was taken (RFC 3339), if it was.
    pub enrolment_counted_at: Option<String>,
    /// Each reported User's Smart Metering Systems on the 15th (when counted).
    pub enrolled: std::collections::BTreeMap<String, super::Enrolled>,
    /// The rows, by User.
    pub rows: Vec<Row>,
    /// Rows at or above 110 %.
    pub reportable: usize,
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

impl Report {
    /// The report of `m` (of `only` when given) from `ledger`.
    pub fn build(ledger: &Ledger, m: Month, only: Option<[u8; 8]>) -> Report {
        let window = formulas::twelve_months(m);
        let first = window[0];
        let mut users: std::collections::BTreeSet<[u8; 8]> = ledger
            .requests
            .keys()
            .filter(|(month, _, _)| *month >= first && *month <= m)
            .map(|(_, u, _)| *u)
            .collect();
        users.extend(
            ledger
                .forecasts
                .keys()
                .filter(|(_, month)| *month == m)
                .map(|(u, _)| *u),
        );
        if let Some(u) = only {
            users.retain(|x| *x == u);
        }
        let mut rows = Vec::new();
        let mut enrolled = std::collections::BTreeMap::new();
        for user in users {
            let name = hex::eui_duis(&user);
            if let Some(e) = ledger.enrolled(m, &user) {
                enrolled.insert(name.clone(), e);
            }
            let forecast = ledger.forecasts.get(&(user, m));
            for group in Group::ALL {
                let actual = ledger.requests(m, &user, group);
                let expected = forecast.and_then(|f| f.get(group));
                if group != Group::All && actual == 0 && expected.is_none() {
                    continue;
                }
                #[allow(clippy::cast_precision_loss)]
                let ratio = expected
                    .filter(|f| *f > 0)
                    .map(|f| actual as f64 / f as f64);
                #[allow(clippy::cast_precision_loss)]
                rows.push(Row {
                    user: name.clone(),
                    kind: "requests",
                    item: group.label().to_string(),
                    service_reference: group.service_reference(),
                    formula: None,
                    actual: Some(actual as f64),
                    forecast: expected,
                    threshold: None,
                    against: expected.map(|_| "forecast"),
                    percent: ratio.map(|r| round(r * 100.0, 2)),
                    reportable: expected
                        .is_some_and(|f| formulas::at_least_110_percent_of_count(actual, f)),
                    note: expected.is_none().then(|| "no forecast".to_string()),
                    ratio,
                });
            }
            for metric in Metric::ALL {
                let group = metric.group();
                if window
                    .iter()
                    .all(|month| ledger.requests(*month, &user, group) == 0)
                {
                    continue;
                }
                let threshold = metric.threshold(m);
                let value = metric.value(ledger, &user, m);
                let ratio = value.as_ref().ok().map(|v| v / threshold);
                rows.push(Row {
                    user: name.clone(),
                    kind: "metric",
                    item: metric.label().to_string(),
                    service_reference: group.service_reference(),
                    formula: Some(metric.formula()),
                    actual: value.as_ref().ok().map(|v| round(*v, 4)),
                    forecast: None,
                    threshold: Some(round(threshold, 6)),
                    against: Some("threshold"),
                    percent: ratio.map(|r| round(r * 100.0, 2)),
                    reportable: value
                        .as_ref()
                        .is_ok_and(|v| formulas::at_least_110_percent(*v, threshold)),
                    note: value.err().map(|e| e.to_string()),
                    ratio,
                });
            }
        }
        Report {
            month: m.to_string(),
            days_in_month: formulas::days_in_month(m),
            enrolment_counted_at: ledger.enrolment_taken.get(&m).cloned(),
            enrolled,
            reportable: rows.iter().filter(|r| r.reportable).count(),
            rows,
        }
    }

    /// As JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// As a text table.
    pub fn render_table(&self) -> String {
        let mut out = format!(
            "Service Request demand, {} ({} days); Smart Metering Systems counted {}\n\
             Reportable: usage at or above 110 % of the forecast or the Monthly Service Threshold\n\n\
             {:<23} {:<8} {:<34} {:>5} {:>12} {:>10} {:>10} {:>9}  {}\n",
            self.month,
            self.days_in_month,
            self.enrolment_counted_at
                .as_deref()
                .unwrap_or("(not counted: no count for the 15th)"),
            "USER",
            "KIND",
            "ITEM",
            "SR",
            "ACTUAL",
            "FORECAST",
            "THRESHOLD",
            "PERCENT",
            "REPORTABLE / NOTE"
        );
        let num = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v}"));
        for r in &self.rows {
            let flag = if r.reportable {
                "REPORTABLE".to_string()
            } else {
                r.note.clone().unwrap_or_default()
            };
            out.push_str(&format!(
                "{:<23} {:<8} {:<34} {:>5} {:>12} {:>10} {:>10} {:>9}  {}\n",
                r.user,
                r.kind,
                r.item,
                r.service_reference,
                num(r.actual),
                r.forecast
                    .map_or_else(|| "-".to_string(), |f| f.to_string()),
                num(r.threshold),
                r.percent
                    .map_or_else(|| "-".to_string(), |p| format!("{p:.2}")),
                flag
            ));
        }
        out.push_str(&format!("\n{} reportable row(s)\n", self.reportable));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demand::Enrolled;
    use crate::demand::forecast::Stored;

    const S: [u8; 8] = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x01, 0, 0];
    const N: [u8; 8] = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x02, 0, 0];

    fn m(s: &str) -> Month {
        Month::parse(s).unwrap()
    }

    fn row<'a>(r: &'a Report, user: &[u8; 8], item: &str) -> &'a Row {
        let name = hex::eui_duis(user);
        r.rows
            .iter()
            .find(|x| x.user == name && x.item == item)
            .unwrap_or_else(|| panic!("no {item} row: {:#?}", r.rows))
    }

    #[test]
    fn thresholds_follow_table_5_3() {
        let oct = m("2026-10");
        assert_eq!(Metric::DisplayMessage12m.threshold(oct), 24.0);
        assert_eq!(Metric::ReadProfileDataSupplierMonth.threshold(oct), 31.0);
        assert_eq!(Metric::UpdateFirmware12m.threshold(oct), 6.0);
        assert!((Metric::ReadProfileDataNetworkMonth.threshold(oct) - 1.488).abs() < 1e-12);
        assert_eq!(Metric::ReadProfileDataNetwork12m.threshold(oct), 4.0);
        assert!((Metric::ReadNetworkDataMonth.threshold(m("2026-11")) - 0.030).abs() < 1e-12);
        assert_eq!(Metric::ReadNetworkData12m.threshold(oct), 4.0);
    }

    /// A worked month: the supplier and the network operator first sent requests in
    /// 2026-09 (First Service Month 2026-10); the report of 2026-10.
    #[test]
    fn the_report_flags_exactly_what_reaches_110_percent() {
        let mut l = Ledger::default();
        let (sep, oct) = (m("2026-09"), m("2026-10"));
        l.first_request.insert(S, sep);
        l.first_request.insert(N, sep);
        l.add(sep, S, Group::All, 1);
        l.add(sep, N, Group::All, 1);
        // Supplier, October: 3 Display Messages, 2 profile reads, 9 requests in all.
        l.add(oct, S, Group::All, 9);
        l.add(oct, S, Group::DisplayMessage, 3);
        l.add(oct, S, Group::ReadProfileDataSupplier, 2);
        // Network operator, October: 4 profile reads.
        l.add(oct, N, Group::All, 4);
        l.add(oct, N, Group::ReadProfileDataNetwork, 4);
        // Enrolled on 15 October: 2 systems supplied by S, 2 with N as ED or GT. On 15
        // September: 10 each (disregarded: before the First Service Month).
        for (mo, n) in [(sep, 10), (oct, 2)] {
            l.enrolment_taken.insert(mo, "x".into());
            l.enrolled.insert(
                (mo, S),
                Enrolled {
                    supplier: n,
                    network: 0,
                },
            );
            l.enrolled.insert(
                (mo, N),
                Enrolled {
                    supplier: 0,
                    network: n,
                },
            );
        }
        let mut requests = std::collections::BTreeMap::new();
        requests.insert("display_message".to_string(), 2);
        requests.insert("read_profile_data_supplier".to_string(), 10);
        requests.insert("all".to_string(), 9);
        l.forecasts.insert(
            (S, oct),
            Stored {
                requests,
                submitted_at: "x".into(),
                submitted_by: "user".into(),
            },
        );
        let r = Report::build(&l, oct, None);
        // Display Messages: 3 of a forecast of 2 = 150 %: reportable.
        let dm = row(&r, &S, "display_message");
        assert_eq!(
            (dm.actual, dm.forecast, dm.percent),
            (Some(3.0), Some(2), Some(150.0))
        );
        assert!(dm.reportable);
        // All: 9 of 9 = 100 %: not. Profile reads: 2 of 10.
        assert!(!row(&r, &S, "all").reportable);
        assert_eq!(
            row(&r, &S, "read_profile_data_supplier").percent,
            Some(20.0)
        );
        // Display Message metric: R12 = 3 (September had none) / ASMSm 2 (September
        // disregarded) = 1.5, × 12 / 1 month since the First Service Month = 18; 75 % of 24.
        let v = row(&r, &S, "display_message_12m");
        assert_eq!((v.actual, v.percent), (Some(18.0), Some(75.0)));
        assert!(!v.reportable);
        // Profile reads per system: 2 / 2 = 1 of 31.
        assert_eq!(
            row(&r, &S, "read_profile_data_supplier_month").actual,
            Some(1.0)
        );
        // Network operator: 4 / 2 = 2 per system, threshold 1.488: 134.41 %: reportable.
        let n = row(&r, &N, "read_profile_data_network_month");
        assert_eq!((n.actual, n.percent), (Some(2.0), Some(134.41)));
        assert!(n.reportable);
        // Twelve months: 4 / 2 × 12 = 24 against 4: reportable.
        let n12 = row(&r, &N, "read_profile_data_network_12m");
        assert_eq!(n12.actual, Some(24.0));
        assert!(n12.reportable);
        // No forecast for N: its requests rows are not compared.
        assert_eq!(row(&r, &N, "all").note.as_deref(), Some("no forecast"));
        let flagged: Vec<(&str, &str)> = r
            .rows
            .iter()
            .filter(|x| x.reportable)
            .map(|x| (x.user.as_str(), x.item.as_str()))
            .collect();
        assert_eq!(
            flagged,
            vec![
                ("90-B3-D5-1F-30-01-00-00", "display_message"),
                ("90-B3-D5-1F-30-02-00-00", "read_profile_data_network_month"),
                ("90-B3-D5-1F-30-02-00-00", "read_profile_data_network_12m"),
            ]
        );
        assert_eq!(r.reportable, 3);
        // September is before the First Service Month: no metric determined.
        let r = Report::build(&l, sep, Some(S));
        assert!(r.rows.iter().all(|x| x.user == "90-B3-D5-1F-30-01-00-00"));
        let text = r.render_table();
        assert!(text.contains("Service Request demand, 2026-09"), "{text}");
        // A month with no count for the 15th.
        let r = Report::build(&l, m("2026-11"), Some(N));
        let nov = row(&r, &N, "read_profile_data_network_month");
        assert!(nov.actual.is_none() && !nov.reportable);
        assert!(
            nov.note.as_deref().unwrap_or("").contains("15 2026-11"),
            "{nov:?}"
        );
        let text = Report::build(&l, oct, None).render_table();
        assert!(
            text.contains("REPORTABLE") && text.contains("3 reportable row(s)"),
            "{text}"
        );
    }
}
