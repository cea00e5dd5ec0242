//! The signing time, kept as seconds since the Unix epoch (UTC) and
//! formatted the two ways SigV4 needs: `20150830T123600Z` and `20150830`.
//!
//! Guards against: pulling in a date crate or a clock; the caller passes the
//! time in, so signing stays deterministic. The civil-date conversion is
//! Howard Hinnant's `civil_from_days`, exact for every date after 1970.

use std::time::{SystemTime, UNIX_EPOCH};

/// A moment in UTC, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SigningTime {
    unix_seconds: u64,
}

impl SigningTime {
    pub const fn from_unix_seconds(unix_seconds: u64) -> Self {
        Self { unix_seconds }
    }

    /// From a `SystemTime` (e.g. `SystemTime::now()`); times before the
    /// epoch clamp to the epoch.
    pub fn from_system_time(time: SystemTime) -> Self {
        let unix_seconds = time
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Self { unix_seconds }
    }

    /// `YYYYMMDD'T'HHMMSS'Z'`, the `X-Amz-Date` format.
    pub fn amz_date(self) -> String {
        let (y, m, d) = civil_from_days(self.unix_seconds / 86_400);
        let secs = self.unix_seconds % 86_400;
        format!(
            "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        )
    }

    /// `YYYYMMDD`, the date of the credential scope.
    pub fn date_stamp(self) -> String {
        let (y, m, d) = civil_from_days(self.unix_seconds / 86_400);
        format!("{y:04}{m:02}{d:02}")
    }
}

/// (year, month 1-12, day 1-31) of the given day since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
