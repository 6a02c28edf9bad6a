//! Timetables through the binary: `plan --at` plans the moment asked (a window in force, or
//! not), says when the next scheduled change is due, and `pgfleet schedule` lists the coming
//! week's changes, across midnight and in each entry's own timezone; `validate` refuses
//! overlapping entries, keys that are not schedulable, unknown timezones and a timetable under
//! which a replica would be smaller than its primary.

use crate::cli_support::{in_dir as pgfleet, text};

fn fleet(servers: &str) -> String {
    format!(
        "[fleet]\nname = \"timed\"\n\n[provider]\nkind = \"local\"\n\n[defaults]\nversion = \"16\"\nadmin_login = \
         \"fleetadmin\"\nadmin_password = {{ env = \"PGFLEET_ADMIN_PASSWORD\" }}\n\n{servers}"
    )
}

const ORDERS: &str = "[servers.orders]\nservice = \"flexible\"\nsku = \"Standard_D4ds_v5\"\nstorage_gb = 128\n\
    [[servers.orders.schedule]]\ndays = \"Mon-Fri\"\nfrom = \"08:00\"\nto = \"18:00\"\ntimezone = \"Europe/Amsterdam\"\nsku = \"Standard_D8ds_v5\"\n\
    [[servers.orders.schedule]]\ndays = \"Sun\"\nfrom = \"23:00\"\nto = \"02:00\"\ntimezone = \"UTC\"\nsku = \"Standard_D16ds_v5\"\n";

fn with_file(servers: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("clusters");
    let text = fleet(servers).replace(
        "kind = \"local\"\n",
        &format!("kind = \"local\"\n[provider.local]\nroot = {:?}\n", root.display().to_string()),
    );
    std::fs::write(dir.path().join("fleet.toml"), text).unwrap();
    dir
}

#[test]
fn plan_at_plans_the_moment_asked_and_says_what_is_next() {
    let dir = with_file(ORDERS);
    // Monday 2026-12-07 08:30 in Amsterdam: the business-hours window is open.
    let open = pgfleet(dir.path(), &["plan", "--json", "--at", "2026-12-07T08:30:00+01:00"]);
    assert_eq!(open.status.code(), Some(0), "{}", text(&open.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&open.stdout).unwrap();
    assert_eq!(plan["changes"][0]["operation"]["spec"]["flexible"]["sku"], "Standard_D8ds_v5", "{plan:#}");
    assert!(
        text(&open.stderr)
            .contains("next: orders → Standard_D4ds_v5 at Mon 2026-12-07 18:00 Europe/Amsterdam"),
        "{}",
        text(&open.stderr)
    );
    // The same day at 20:00: the base size, and Tuesday 08:00 next.
    let closed = pgfleet(dir.path(), &["plan", "--json", "--at", "2026-12-07T20:00:00+01:00"]);
    let plan: serde_json::Value = serde_json::from_slice(&closed.stdout).unwrap();
    assert_eq!(plan["changes"][0]["operation"]["spec"]["flexible"]["sku"], "Standard_D4ds_v5");
    assert!(
        text(&closed.stderr)
            .contains("next: orders → Standard_D8ds_v5 at Tue 2026-12-08 08:00 Europe/Amsterdam")
    );
    // Sunday night past midnight (UTC): the night window, into Monday.
    let night = pgfleet(dir.path(), &["plan", "--json", "--at", "2026-12-14T01:00:00Z"]);
    let plan: serde_json::Value = serde_json::from_slice(&night.stdout).unwrap();
    assert_eq!(plan["changes"][0]["operation"]["spec"]["flexible"]["sku"], "Standard_D16ds_v5");
    // In July, Amsterdam keeps summer time: 08:00 local is 06:00 UTC.
    let summer = pgfleet(dir.path(), &["plan", "--json", "--at", "2027-07-05T06:30:00Z"]);
    let plan: serde_json::Value = serde_json::from_slice(&summer.stdout).unwrap();
    assert_eq!(plan["changes"][0]["operation"]["spec"]["flexible"]["sku"], "Standard_D8ds_v5");
}

#[test]
fn schedule_lists_the_coming_weeks_changes() {
    let dir = with_file(ORDERS);
    let output = pgfleet(dir.path(), &["schedule", "--from", "2026-12-06T00:00:00Z"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let lines: Vec<String> = text(&output.stdout).lines().map(str::to_string).collect();
    // Sunday night (opens, closes Monday 02:00), then Monday to Friday open and close.
    assert_eq!(lines.len(), 12, "{lines:#?}");
    assert_eq!(lines[0], "Sun 2026-12-06 23:00 UTC  orders  Standard_D4ds_v5 → Standard_D16ds_v5");
    assert_eq!(lines[1], "Mon 2026-12-07 02:00 UTC  orders  Standard_D16ds_v5 → Standard_D4ds_v5");
    assert_eq!(
        lines[2],
        "Mon 2026-12-07 08:00 Europe/Amsterdam  orders  Standard_D4ds_v5 → Standard_D8ds_v5"
    );
    assert_eq!(
        lines[3],
        "Mon 2026-12-07 18:00 Europe/Amsterdam  orders  Standard_D8ds_v5 → Standard_D4ds_v5"
    );
}

#[test]
fn validate_refuses_what_a_timetable_cannot_be() {
    let check = |servers: &str, needle: &str| {
        let dir = with_file(servers);
        let output = pgfleet(dir.path(), &["validate"]);
        assert_eq!(output.status.code(), Some(1), "{needle}: {}", text(&output.stderr));
        assert!(text(&output.stderr).contains(needle), "{needle}:\n{}", text(&output.stderr));
    };
    let base = "[servers.orders]\nservice = \"flexible\"\nsku = \"Standard_D4ds_v5\"\nstorage_gb = 128\n";
    let entry = |days: &str, from: &str, to: &str, timezone: &str, set: &str| {
        format!(
            "[[servers.orders.schedule]]\ndays = \"{days}\"\nfrom = \"{from}\"\nto = \"{to}\"\ntimezone = \"{timezone}\"\n{set}\n"
        )
    };
    let d8 = "sku = \"Standard_D8ds_v5\"";
    check(
        &format!(
            "{base}{}{}",
            entry("Mon-Fri", "08:00", "18:00", "Europe/Amsterdam", d8),
            entry("Fri", "17:00", "23:00", "Europe/Amsterdam", d8)
        ),
        "overlaps entry 1",
    );
    check(
        &format!("{base}{}", entry("Mon-Fri", "08:00", "18:00", "Europe/Atlantis", d8)),
        "not an IANA timezone",
    );
    check(
        &format!("{base}{}", entry("Mon-Fri", "08:00", "18:00", "UTC", "vcores = 8")),
        "vcores is not schedulable",
    );
    check(&format!("{base}{}", entry("Mon-Funday", "08:00", "18:00", "UTC", d8)), "not a day");
    check(
        &format!("{base}{}", entry("Mon", "08:00", "18:00", "UTC", "sku = \"Standard_D5ds_v5\"")),
        "while Mon 08:00–18:00 UTC is in force",
    );
    check("[defaults.schedule]\n", "");
    // The primary grows on weekdays; its replica does not: it would be smaller then.
    let replica = "\n[servers.orders-ro]\nservice = \"flexible\"\nreplica_of = \"orders\"\nsku = \"Standard_D4ds_v5\"\nstorage_gb = 128\n";
    check(
        &format!("{base}{}{replica}", entry("Mon-Fri", "08:00", "18:00", "Europe/Amsterdam", d8)),
        "under the timetables",
    );
    // Both grow together: fine.
    let dir = with_file(&format!(
        "{base}{}{replica}[[servers.orders-ro.schedule]]\ndays = \"Mon-Fri\"\nfrom = \"08:00\"\nto = \"18:00\"\ntimezone = \"Europe/Amsterdam\"\n{d8}\n",
        entry("Mon-Fri", "08:00", "18:00", "Europe/Amsterdam", d8)
    ));
    let output = pgfleet(dir.path(), &["validate"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
}
