//! `pgfleet schedule`: the fleet's timetables for the coming week, one line per change (when,
//! in the entry's timezone; which server; from what to what), so a team sees what a scheduled
//! `pgfleet apply` (cron, or a scheduled CI workflow) will do and when.

use super::plan::{base_value, parse_moment};
use super::session;
use super::{GlobalArgs, Outcome, Printer};
use chrono::{DateTime, Duration, Utc};

#[derive(Debug, clap::Args)]
pub(crate) struct ScheduleArgs {
    /// The week's start (RFC 3339); now when absent.
    #[arg(long, value_parser = parse_moment, value_name = "TIME")]
    pub from: Option<DateTime<Utc>>,
}

pub(crate) fn run(global: &GlobalArgs, args: &ScheduleArgs, printer: &Printer) -> anyhow::Result<Outcome> {
    let fleet = session::load_timetabled_fleet(global, printer)?;
    let start = args.from.unwrap_or_else(Utc::now);
    let end = start + Duration::days(7);
    let mut lines = Vec::new();
    for server in fleet.servers.values().filter(|server| !server.schedule.is_empty()) {
        let mut at = start;
        let value_at = |moment| match crate::schedule::in_force(&server.schedule, moment) {
            Some(entry) => entry.set.to_string(),
            None => base_value(&server.base),
        };
        while let Some((moment, then)) = crate::schedule::next_change(&server.schedule, at) {
            if moment >= end {
                break;
            }
            let before = value_at(at);
            let timezone =
                then.or_else(|| crate::schedule::in_force(&server.schedule, at)).map(|e| e.timezone);
            let when = match timezone {
                Some(timezone) => {
                    format!("{} {timezone}", moment.with_timezone(&timezone).format("%a %Y-%m-%d %H:%M"))
                }
                None => format!("{} UTC", moment.format("%a %Y-%m-%d %H:%M")),
            };
            lines.push((moment, format!("{when}  {}  {before} → {}", server.name, value_at(moment))));
            at = moment;
        }
    }
    if lines.is_empty() {
        printer.info("No scheduled change in the coming week");
        return Ok(Outcome::Success);
    }
    lines.sort();
    for (_, line) in lines {
        printer.data(&line);
    }
    Ok(Outcome::Success)
}
