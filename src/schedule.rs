//! Timetables: a server's `[[servers.NAME.schedule]]` entries, each a weekly window (`days`,
//! `from`–`to`, in an IANA `timezone`) during which some of its keys take other values (`sku`
//! on Flexible Server, `vcores` on Single Server). The desired state at a moment is the base
//! values with the entry in force then applied. A window whose `to` is not after its `from`
//! runs past midnight into the next day; days name the day a window starts. Daylight-saving
//! changes are the timezone's: a window starting in a skipped hour starts when the hour resumes.
//!
//! Owns: reading entries, when they are in force, their next change, and whether two overlap.
//! Must not: judge the values (the rules do, on the spec an entry makes).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// What an entry sets while it is in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheduled {
    /// Flexible Server's compute size.
    Sku(String),
    /// Single Server's vCores.
    Vcores(u32),
}

impl std::fmt::Display for Scheduled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scheduled::Sku(sku) => f.write_str(sku),
            Scheduled::Vcores(vcores) => write!(f, "{vcores} vCores"),
        }
    }
}

/// One entry of a timetable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its position in the file (0-based), for messages.
    pub index: usize,
    pub days: Vec<Weekday>,
    pub from: NaiveTime,
    pub to: NaiveTime,
    pub timezone: Tz,
    pub set: Scheduled,
}

/// The days a `days` value names: `Mon-Fri`, `Sat,Sun`, `Fri-Mon` (wrapping), `Mon`, `daily`.
///
/// # Errors
/// What is wrong, for the validator.
pub fn parse_days(text: &str) -> Result<Vec<Weekday>, String> {
    if text.trim().eq_ignore_ascii_case("daily") {
        return Ok(weekdays(Weekday::Mon, Weekday::Sun));
    }
    let mut days = Vec::new();
    for part in text.split(',').map(str::trim) {
        let day = |name: &str| {
            name.parse::<Weekday>().map_err(|_| {
                format!("{name:?} is not a day; write Mon, Tue, Wed, Thu, Fri, Sat or Sun, a range (Mon-Fri) or daily")
            })
        };
        let range = match part.split_once('-') {
            Some((first, last)) => weekdays(day(first.trim())?, day(last.trim())?),
            None => vec![day(part)?],
        };
        for day in range {
            if !days.contains(&day) {
                days.push(day);
            }
        }
    }
    Ok(days)
}

/// `first` to `last`, wrapping past Sunday.
fn weekdays(first: Weekday, last: Weekday) -> Vec<Weekday> {
    let mut days = vec![first];
    let mut day = first;
    while day != last {
        day = day.succ();
        days.push(day);
    }
    days
}

/// A time of day written `HH:MM` (`24:00` is the end of the day).
///
/// # Errors
/// What is wrong, for the validator.
pub fn parse_time(text: &str) -> Result<NaiveTime, String> {
    if text == "24:00" {
        return Ok(NaiveTime::MIN);
    }
    NaiveTime::parse_from_str(text, "%H:%M")
        .map_err(|_| format!("{text:?} is not a time of day; write HH:MM (08:00, 18:30)"))
}

/// An IANA timezone (`Europe/Amsterdam`, `UTC`).
///
/// # Errors
/// What is wrong, for the validator.
pub fn parse_timezone(text: &str) -> Result<Tz, String> {
    text.parse::<Tz>()
        .map_err(|_| format!("{text:?} is not an IANA timezone (Europe/Amsterdam, America/New_York, UTC)"))
}

/// The moment a local date and time is in `timezone`: in a skipped hour (the clocks went
/// forward), when the hour resumes; in a repeated hour, its first occurrence.
fn instant(timezone: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let local = date.and_time(time);
    let mut probe = local;
    loop {
        if let Some(at) = timezone.from_local_datetime(&probe).earliest() {
            return at.with_timezone(&Utc);
        }
        probe += Duration::minutes(15);
    }
}

impl Entry {
    /// The windows of this entry that end after `start` and begin before `end`, in UTC.
    pub fn windows(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let first = start.with_timezone(&self.timezone).date_naive() - Duration::days(1);
        let last = end.with_timezone(&self.timezone).date_naive();
        let mut windows = Vec::new();
        let mut date = first;
        while date <= last {
            if self.days.contains(&date.weekday()) {
                let begins = instant(self.timezone, date, self.from);
                let end_date = if self.to > self.from { date } else { date + Duration::days(1) };
                let ends = instant(self.timezone, end_date, self.to);
                if ends > start && begins < end && ends > begins {
                    windows.push((begins, ends));
                }
            }
            date += Duration::days(1);
        }
        windows
    }

    /// Whether the entry is in force at `at`.
    pub fn in_force(&self, at: DateTime<Utc>) -> bool {
        self.windows(at, at + Duration::seconds(1)).iter().any(|(begins, ends)| *begins <= at && at < *ends)
    }

    /// `Mon-Fri 08:00–18:00 Europe/Amsterdam`.
    pub fn describe(&self) -> String {
        let days: Vec<String> = self.days.iter().map(ToString::to_string).collect();
        format!(
            "{} {}–{} {}",
            days.join(","),
            self.from.format("%H:%M"),
            self.to.format("%H:%M"),
            self.timezone
        )
    }
}

/// The entry in force at `at`, if any (entries never overlap: the validator refuses it).
pub fn in_force(entries: &[Entry], at: DateTime<Utc>) -> Option<&Entry> {
    entries.iter().find(|entry| entry.in_force(at))
}

/// The next moment after `at` (within eight days) when the entry in force changes, and the
/// entry in force from then (`None`: the base values).
pub fn next_change(entries: &[Entry], at: DateTime<Utc>) -> Option<(DateTime<Utc>, Option<&Entry>)> {
    let horizon = at + Duration::days(8);
    let now = in_force(entries, at).map(|entry| entry.index);
    let mut boundaries: Vec<DateTime<Utc>> = entries
        .iter()
        .flat_map(|entry| entry.windows(at, horizon))
        .flat_map(|(begins, ends)| [begins, ends])
        .filter(|moment| *moment > at && *moment <= horizon)
        .collect();
    boundaries.sort();
    boundaries.dedup();
    boundaries.into_iter().find_map(|moment| {
        let then = in_force(entries, moment);
        (then.map(|entry| entry.index) != now).then_some((moment, then))
    })
}

/// Every moment in `[start, end)` at which some entry of `entries` begins or ends.
pub fn boundaries(entries: &[&Entry], start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut moments: Vec<DateTime<Utc>> = entries
        .iter()
        .flat_map(|entry| entry.windows(start, end))
        .flat_map(|(begins, ends)| [begins, ends])
        .filter(|moment| *moment >= start && *moment < end)
        .collect();
    moments.push(start);
    moments.sort();
    moments.dedup();
    moments
}

/// The span the validator checks timetables over: a whole year and a week, so that every
/// weekday meets both daylight-saving changes.
pub fn checked_span() -> (DateTime<Utc>, DateTime<Utc>) {
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("a valid date");
    (start, start + Duration::days(373))
}

/// The first two entries whose windows overlap, with a moment both are in force.
pub fn overlap(entries: &[Entry]) -> Option<(&Entry, &Entry, DateTime<Utc>)> {
    let (start, end) = checked_span();
    for (i, first) in entries.iter().enumerate() {
        let windows = first.windows(start, end);
        for second in &entries[i + 1..] {
            for (begins, ends) in second.windows(start, end) {
                if let Some((other_begins, _)) = windows.iter().find(|(b, e)| *b < ends && begins < *e) {
                    return Some((first, second, begins.max(*other_begins)));
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(days: &str, from: &str, to: &str, timezone: &str) -> Entry {
        Entry {
            index: 0,
            days: parse_days(days).unwrap(),
            from: parse_time(from).unwrap(),
            to: parse_time(to).unwrap(),
            timezone: parse_timezone(timezone).unwrap(),
            set: Scheduled::Sku("Standard_D8ds_v5".into()),
        }
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn days_parse_as_ranges_lists_and_wrapping_ranges() {
        assert_eq!(parse_days("Mon-Fri").unwrap().len(), 5);
        assert_eq!(parse_days("Fri-Mon").unwrap(), [Weekday::Fri, Weekday::Sat, Weekday::Sun, Weekday::Mon]);
        assert_eq!(parse_days("Sat, Sun").unwrap(), [Weekday::Sat, Weekday::Sun]);
        assert_eq!(parse_days("daily").unwrap().len(), 7);
        assert!(parse_days("Mon-Funday").unwrap_err().contains("not a day"));
        assert!(parse_time("25:00").is_err());
        assert!(parse_timezone("Europe/Atlantis").is_err());
    }

    #[test]
    fn business_hours_are_in_force_in_their_timezone() {
        let hours = entry("Mon-Fri", "08:00", "18:00", "Europe/Amsterdam");
        // Monday 2026-12-07, 08:00 in Amsterdam is 07:00 UTC.
        assert!(!hours.in_force(utc("2026-12-07T06:59:00Z")));
        assert!(hours.in_force(utc("2026-12-07T07:00:00Z")));
        assert!(!hours.in_force(utc("2026-12-07T17:00:00Z")));
        // Saturday.
        assert!(!hours.in_force(utc("2026-12-12T10:00:00Z")));
    }

    #[test]
    fn a_window_past_midnight_and_across_the_week_boundary() {
        let night = entry("Sun", "22:00", "06:00", "UTC");
        // Sunday 22:00 to Monday 06:00: the week's boundary falls inside it.
        assert!(night.in_force(utc("2026-12-13T23:30:00Z")));
        assert!(night.in_force(utc("2026-12-14T05:59:00Z")));
        assert!(!night.in_force(utc("2026-12-14T06:00:00Z")));
        assert!(!night.in_force(utc("2026-12-12T23:30:00Z")), "Saturday night is not Sunday's");
        let (at, then) = next_change(std::slice::from_ref(&night), utc("2026-12-10T00:00:00Z")).unwrap();
        assert_eq!((at, then.is_some()), (utc("2026-12-13T22:00:00Z"), true));
    }

    #[test]
    fn daylight_saving_changes_keep_local_hours() {
        let hours = entry("Mon-Fri", "08:00", "18:00", "Europe/Amsterdam");
        // Winter: 08:00 CET is 07:00 UTC; summer: 08:00 CEST is 06:00 UTC.
        assert!(hours.in_force(utc("2026-03-27T07:00:00Z")));
        assert!(hours.in_force(utc("2026-03-30T06:00:00Z")));
        assert!(!hours.in_force(utc("2026-03-30T05:59:00Z")));
        // The clocks go forward at 02:00 on Sunday 2026-03-29: a window from 02:30 starts at 03:00.
        let night = entry("Sun", "02:30", "04:00", "Europe/Amsterdam");
        let windows = night.windows(utc("2026-03-28T00:00:00Z"), utc("2026-03-30T00:00:00Z"));
        assert_eq!(windows, [(utc("2026-03-29T01:00:00Z"), utc("2026-03-29T02:00:00Z"))]);
        // Back at 03:00 on 2026-10-25: the window's 02:30 is the first one.
        let windows = night.windows(utc("2026-10-24T00:00:00Z"), utc("2026-10-26T00:00:00Z"));
        assert_eq!(windows, [(utc("2026-10-25T00:30:00Z"), utc("2026-10-25T03:00:00Z"))]);
    }

    #[test]
    fn overlapping_entries_are_found_and_apart_ones_are_not() {
        let mut day = entry("Mon-Fri", "08:00", "18:00", "Europe/Amsterdam");
        let mut evening = entry("Mon-Fri", "18:00", "22:00", "Europe/Amsterdam");
        evening.index = 1;
        assert!(overlap(&[day.clone(), evening.clone()]).is_none());
        // 16:30 in London is 17:30 in Amsterdam: inside the day window.
        evening.timezone = parse_timezone("Europe/London").unwrap();
        evening.from = parse_time("16:30").unwrap();
        assert!(overlap(&[day.clone(), evening]).is_some());
        day.days = parse_days("Sat").unwrap();
        let night = entry("Fri", "22:00", "10:00", "Europe/Amsterdam");
        assert!(overlap(&[day, night]).is_some(), "Friday's night runs into Saturday's day");
    }
}
