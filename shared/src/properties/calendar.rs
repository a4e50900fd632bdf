//! Calendar dates (UTC) as the rent schedule counts them, and the due markers by which it finds
//! the leases due on a day (see [`super::rent`]): below both the leases, which write the
//! markers, and the rent run, which reads them.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::ids::LeaseId;

/// How long an ended lease's due marker outlives its end date: longer than a catch-up.
const MARKER_AFTER_END_DAYS: i64 = 62;
const SECONDS_PER_DAY: i64 = 86_400;

/// A calendar date as days since 1970-01-01 (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(pub(super) i64);

impl Day {
    /// `YYYY-MM-DD`, or the date of an RFC 3339 time (`2027-02-01T00:05:00Z`) in UTC.
    pub fn parse(text: &str) -> Option<Self> {
        let date = text.get(..10)?;
        let rest = &text[10..];
        if !(rest.is_empty() || rest.starts_with('T')) || date.as_bytes().get(4) != Some(&b'-') {
            return None;
        }
        let (y, m, d) = (
            date.get(..4)?.parse::<i64>().ok()?,
            date.get(5..7)?.parse::<u32>().ok()?,
            date.get(8..10)?.parse::<u32>().ok()?,
        );
        if date.as_bytes().get(7) != Some(&b'-') || !(1..=12).contains(&m) {
            return None;
        }
        if d == 0 || d > days_in_month(y, m) {
            return None;
        }
        if rest.starts_with('T') && !rest.ends_with('Z') {
            // An offset other than UTC would change the date.
            return None;
        }
        Some(Self(days_from_civil(y, m, d)))
    }

    pub fn number(self) -> i64 {
        self.0
    }

    /// The date `days` after 1970-01-01 (the inverse of [`Day::number`]).
    pub fn from_number(days: i64) -> Self {
        Self(days)
    }

    #[must_use]
    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }

    /// The date `days` later (earlier when negative).
    #[must_use]
    pub fn plus(self, days: i64) -> Self {
        Self(self.0 + days)
    }

    fn civil(self) -> (i64, u32, u32) {
        civil_from_days(self.0)
    }

    /// The day of the month, 1–31.
    pub fn day_of_month(self) -> u32 {
        self.civil().2
    }

    fn is_last_of_month(self) -> bool {
        let (y, m, d) = self.civil();
        d == days_in_month(y, m)
    }

    /// `YYYY-MM`.
    pub fn month(self) -> String {
        let (y, m, _) = self.civil();
        format!("{y:04}-{m:02}")
    }

    /// The due days of the month whose leases are due on this date: its own, and on a month's
    /// last day the days the month does not have.
    pub fn due_days(self) -> Vec<u32> {
        let d = self.day_of_month();
        if self.is_last_of_month() {
            (d..=31).collect()
        } else {
            vec![d]
        }
    }

    /// 00:00 UTC of this date, in seconds since the epoch.
    pub(super) fn epoch_seconds(self) -> i64 {
        self.0 * SECONDS_PER_DAY
    }
}

impl std::fmt::Display for Day {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (y, m, d) = self.civil();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (the inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let m = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A lease's marker: a due marker (the lease is due on day `<dd>` of every month) or an end
/// marker (it is agreed to end on a date).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RentDueItem {
    pub(super) pk: String,
    pub(super) sk: String,
    pub(super) lease_id: LeaseId,
    /// When the lease has an end date: 62 days after it (the table's TTL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

const END_PREFIX: &str = "LEASEEND#";

/// The partition of the leases agreed to end on `day`.
pub(super) fn end_partition(day: Day) -> String {
    format!("{END_PREFIX}{day}")
}

/// The end marker of the lease `id` agreed to end on `end_date`: how the rent run finds the
/// leases ending in 30 days (a marker left by an end date moved since is read and ignored).
pub(super) fn end_marker(id: LeaseId, end_date: &str) -> Result<RentDueItem, ApiError> {
    let end = Day::parse(end_date)
        .ok_or_else(|| ApiError::internal("a lease's end date is not a date"))?;
    Ok(RentDueItem {
        pk: end_partition(end),
        sk: id.to_string(),
        lease_id: id,
        expires_at: Some(end.epoch_seconds() + MARKER_AFTER_END_DAYS * SECONDS_PER_DAY),
    })
}

pub(super) const DUE_PREFIX: &str = "RENTDUE#";

pub(super) fn due_partition(day_of_month: u32) -> String {
    format!("{DUE_PREFIX}{day_of_month:02}")
}

/// The due marker of the lease `id` from `start_date` to `end_date` as it stands (written when
/// the lease is made, rewritten when its end date is set).
pub(super) fn due_marker(
    id: LeaseId,
    start_date: &str,
    end_date: Option<&str>,
) -> Result<RentDueItem, ApiError> {
    let start = Day::parse(start_date)
        .ok_or_else(|| ApiError::internal("a lease's start date is not a date"))?;
    let expires_at = match end_date {
        Some(end) => Some(
            Day::parse(end)
                .ok_or_else(|| ApiError::internal("a lease's end date is not a date"))?
                .epoch_seconds()
                + MARKER_AFTER_END_DAYS * SECONDS_PER_DAY,
        ),
        None => None,
    };
    Ok(RentDueItem {
        pk: due_partition(start.day_of_month()),
        sk: id.to_string(),
        lease_id: id,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> Day {
        Day::parse(text).expect(text)
    }

    #[test]
    fn days_count_from_1970_and_come_back_as_the_same_date() {
        assert_eq!(day("1970-01-01").number(), 0);
        assert_eq!(day("2000-03-01").number(), 11_017);
        for text in [
            "1999-12-31",
            "2024-02-29",
            "2027-01-31",
            "2100-03-01",
            "2400-02-29",
        ] {
            assert_eq!(day(text).to_string(), text);
        }
        assert_eq!(day("2027-02-28").next().to_string(), "2027-03-01");
        assert_eq!(day("2028-02-28").next().to_string(), "2028-02-29");
        assert_eq!(day("2027-12-31").next().to_string(), "2028-01-01");
    }

    #[test]
    fn a_scheduled_time_gives_its_utc_date_and_nothing_else_parses() {
        assert_eq!(day("2027-02-01T00:05:00Z").to_string(), "2027-02-01");
        for bad in [
            "2027-02-29",
            "2027-13-01",
            "2027-02-01T00:05:00+02:00",
            "2027/02/01",
            "27-02-01",
            "2027-02-01x",
        ] {
            assert!(Day::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_last_day_of_a_month_is_also_due_day_for_the_days_it_does_not_have() {
        assert_eq!(day("2027-02-28").due_days(), [28, 29, 30, 31]);
        assert_eq!(day("2028-02-28").due_days(), [28]);
        assert_eq!(day("2028-02-29").due_days(), [29, 30, 31]);
        assert_eq!(day("2027-04-30").due_days(), [30, 31]);
        assert_eq!(day("2027-01-31").due_days(), [31]);
        assert_eq!(day("2027-01-15").due_days(), [15]);
    }
}
