//! The template's `AWS::Scheduler::Schedule`s, fired locally as EventBridge Scheduler would:
//! the local endpoint stores no schedule and fires none, so the local stack reads each schedule
//! from the template and sends its target's `Input` — context attributes such as
//! `<aws.scheduler.scheduled-time>` filled in — to its target queue, signing as the schedule's
//! role (so the local IAM holds the role to its policy, as AWS does).
//!
//! `make dev` fires each schedule on its timetable ([`run_timetable`]); `ferrite-local fire`
//! and the tests fire one "as of" a given time ([`Schedule::fire`], [`Schedule::input_at`]).
//! Only what the template uses is supported, and anything else is refused at start rather than
//! fired differently from AWS: a daily `cron(M H * * ? *)` in `UTC`, an SQS target.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, anyhow, bail};

use crate::template::{Context, Template};

/// One schedule of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Its logical id (the local IAM's user of its role).
    pub name: String,
    /// When it fires each day, UTC.
    pub hour: u32,
    pub minute: u32,
    /// The target queue's logical id and URL.
    pub queue: String,
    pub queue_url: String,
    /// The target's `Input`, context attributes not yet filled in.
    pub input: String,
}

/// Every schedule of `template`; an expression, time zone or target the local stack cannot
/// fire as AWS would is an error.
pub fn schedules(template: &Template, ctx: &Context) -> Result<Vec<Schedule>> {
    let mut out = Vec::new();
    for resource in template.resources_of("AWS::Scheduler::Schedule") {
        let name = resource.logical_id;
        // Each property on its own: the target's ARNs need not be resolved to read the rest.
        let text = |value: Option<&serde_yaml_ng::Value>| -> Result<Option<String>> {
            Ok(match value {
                Some(value) => template
                    .eval(value, ctx)
                    .with_context(|| format!("schedule {name}"))?
                    .as_str()
                    .map(str::to_owned),
                None => None,
            })
        };
        let props = resource.properties;
        let expression = text(props.get("ScheduleExpression"))?.unwrap_or_default();
        let (hour, minute) = daily_cron(&expression).ok_or_else(|| {
            anyhow!("schedule {name}: the local stack fires only daily `cron(M H * * ? *)`, not `{expression}`")
        })?;
        let zone = text(props.get("ScheduleExpressionTimezone"))?.unwrap_or_else(|| "UTC".into());
        if zone != "UTC" {
            bail!("schedule {name}: the local stack fires in UTC only, not {zone}");
        }
        let target = props
            .get("Target")
            .ok_or_else(|| anyhow!("schedule {name} has no Target"))?;
        let queue = target
            .get("Arn")
            .and_then(crate::pumps::logical_of_get_att)
            .ok_or_else(|| anyhow!("schedule {name}: Target.Arn must be !GetAtt <Queue>.Arn"))?;
        let queue_url = ctx.refs.get(&queue).cloned().ok_or_else(|| {
            anyhow!("schedule {name}: its target {queue} is not a provisioned queue")
        })?;
        let input = text(target.get("Input"))?
            .ok_or_else(|| anyhow!("schedule {name}: Target.Input must be text"))?;
        out.push(Schedule {
            name: name.to_owned(),
            hour,
            minute,
            queue,
            queue_url,
            input,
        });
    }
    Ok(out)
}

/// `cron(M H * * ? *)` → (H, M).
fn daily_cron(expression: &str) -> Option<(u32, u32)> {
    let fields: Vec<&str> = expression
        .strip_prefix("cron(")?
        .strip_suffix(')')?
        .split_whitespace()
        .collect();
    let [minute, hour, "*", "*", "?", "*"] = fields.as_slice() else {
        return None;
    };
    let (minute, hour) = (minute.parse::<u32>().ok()?, hour.parse::<u32>().ok()?);
    (minute < 60 && hour < 24).then_some((hour, minute))
}

/// RFC 3339 in UTC, to the second, as Scheduler gives `<aws.scheduler.scheduled-time>`.
pub fn rfc3339(at: SystemTime) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let secs = i64::try_from(secs).unwrap_or_default();
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        shared::properties::rent::Day::from_number(days),
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

impl Schedule {
    /// The message Scheduler sends for a firing at `scheduled` (RFC 3339, UTC): the `Input`
    /// with its context attributes filled in.
    pub fn input_at(&self, scheduled: &str) -> String {
        self.input
            .replace("<aws.scheduler.scheduled-time>", scheduled)
            .replace(
                "<aws.scheduler.schedule-arn>",
                &format!(
                    "arn:aws:scheduler:local:000000000000:schedule/default/{}",
                    self.name
                ),
            )
            .replace("<aws.scheduler.attempt-number>", "1")
            .replace(
                "<aws.scheduler.execution-id>",
                &format!("{}-{scheduled}", self.name),
            )
    }

    /// Fires the schedule as of `scheduled`: its message to its queue, sent with `sqs` (which
    /// must sign as the schedule's role).
    pub async fn fire(&self, sqs: &aws_sdk_sqs::Client, scheduled: &str) -> Result<()> {
        sqs.send_message()
            .queue_url(&self.queue_url)
            .message_body(self.input_at(scheduled))
            .send()
            .await
            .with_context(|| format!("{} firing into {}", self.name, self.queue))?;
        Ok(())
    }

    /// The first firing strictly after `now`.
    pub fn next_after(&self, now: SystemTime) -> SystemTime {
        let secs = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let today = secs - secs % 86_400;
        let at = today + u64::from(self.hour) * 3600 + u64::from(self.minute) * 60;
        let next = if at > secs { at } else { at + 86_400 };
        UNIX_EPOCH + Duration::from_secs(next)
    }
}

/// Fires `schedule` on its timetable for as long as the task runs (`make dev`): a firing that
/// fails is logged and retried a few times, as Scheduler retries, then dropped (the rent run
/// catches up on the next day's).
pub async fn run_timetable(sqs: aws_sdk_sqs::Client, schedule: Schedule) {
    loop {
        let next = schedule.next_after(SystemTime::now());
        let wait = next
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait).await;
        let scheduled = rfc3339(next);
        for attempt in 1..=3 {
            match schedule.fire(&sqs, &scheduled).await {
                Ok(()) => {
                    eprintln!("schedule {}: fired as of {scheduled}", schedule.name);
                    break;
                }
                Err(error) => {
                    eprintln!("schedule {} (attempt {attempt}): {error:#}", schedule.name);
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_daily_crons_are_understood() {
        assert_eq!(daily_cron("cron(5 0 * * ? *)"), Some((0, 5)));
        assert_eq!(daily_cron("cron(30 23 * * ? *)"), Some((23, 30)));
        for other in [
            "rate(1 day)",
            "cron(5 0 1 * ? *)",
            "cron(5 0 * * MON *)",
            "cron(61 0 * * ? *)",
            "at(2027-01-01T00:00:00)",
        ] {
            assert_eq!(daily_cron(other), None, "{other}");
        }
    }

    #[test]
    fn a_schedule_fires_next_at_its_time_today_or_tomorrow_and_fills_in_the_scheduled_time() {
        let schedule = Schedule {
            name: "RentSchedule".into(),
            hour: 0,
            minute: 5,
            queue: "RentQueue".into(),
            queue_url: "http://localhost/q".into(),
            input: r#"{"schedule": "rent", "scheduledTime": "<aws.scheduler.scheduled-time>"}"#
                .into(),
        };
        // 2027-02-01T00:04:59Z and 00:05:00Z.
        let before = UNIX_EPOCH + Duration::from_secs(1_801_440_299);
        assert_eq!(rfc3339(schedule.next_after(before)), "2027-02-01T00:05:00Z");
        let at = UNIX_EPOCH + Duration::from_secs(1_801_440_300);
        assert_eq!(rfc3339(schedule.next_after(at)), "2027-02-02T00:05:00Z");
        assert_eq!(
            schedule.input_at("2027-02-01T00:05:00Z"),
            r#"{"schedule": "rent", "scheduledTime": "2027-02-01T00:05:00Z"}"#
        );
    }
}
