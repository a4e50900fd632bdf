//! Time, injectable: functions use the system clock, tests may pin it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    #[default]
    System,
    /// Always answers this instant.
    Fixed(SystemTime),
}

impl Clock {
    pub fn now(self) -> SystemTime {
        match self {
            Self::System => SystemTime::now(),
            Self::Fixed(at) => at,
        }
    }

    /// Seconds since the Unix epoch (the unit of DynamoDB TTL attributes).
    pub fn unix_seconds(self) -> i64 {
        let since = self
            .now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_clock_answers_its_instant() {
        let clock = Clock::Fixed(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        assert_eq!(clock.unix_seconds(), 1_700_000_000);
        assert!(Clock::System.unix_seconds() > 1_700_000_000);
    }
}
