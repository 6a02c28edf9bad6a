//! Cost through the binary: every change and the plan's total priced from the shipped table
//! (figures worked out by hand), in the terminal, the Markdown table and the JSON; a price
//! file of the fleet's own replacing the shipped prices; a missing price shown as unknown; a
//! timetable's month priced hour by hour; a broken price file refused with its position.
//!
//! The shipped eastus figures: Single Server General Purpose 0.0876 per vCore-hour and 0.115
//! per GB-month; Flexible Server Ddsv5 0.089 per vCore-hour, Premium SSD 0.115 per GB-month;
//! an HA standby costs the primary's compute and storage again; 730 hours a month.

use crate::cli_support::{in_dir as pgfleet, text};

/// A local fleet priced as eastus, with `pricing` added to `[pricing]`.
fn fleet(pricing: &str, servers: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[fleet]\nname = \"priced\"\n\n[provider]\nkind = \"local\"\n\n[pricing]\nlocation = \"eastus\"\n{pricing}\n\
         [defaults]\nadmin_login = \"fleetadmin\"\nadmin_password = {{ env = \"PGFLEET_ADMIN_PASSWORD\" }}\n\n{servers}"
    );
    std::fs::write(dir.path().join("fleet.toml"), text).unwrap();
    dir
}

const SERVERS: &str = "\
[servers.pay]\nversion = \"11\"\ntier = \"GeneralPurpose\"\nvcores = 4\nstorage_gb = 100\n\n\
[servers.pay-ro]\nreplica_of = \"pay\"\nversion = \"11\"\ntier = \"GeneralPurpose\"\nvcores = 4\nstorage_gb = 100\n\n\
[servers.orders]\nservice = \"flexible\"\nversion = \"16\"\nsku = \"Standard_D4ds_v5\"\nstorage_gb = 128\nhigh_availability = \"ZoneRedundant\"\n\n\
[servers.orders-ro]\nservice = \"flexible\"\nreplica_of = \"orders\"\nversion = \"16\"\nsku = \"Standard_D4ds_v5\"\nstorage_gb = 128\n";

fn plan_json(dir: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["plan", "--refresh=false", "--json"];
    args.extend_from_slice(extra);
    let out = pgfleet(dir, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn change<'p>(plan: &'p serde_json::Value, id: &str) -> &'p serde_json::Value {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|change| change["id"] == id)
        .unwrap_or_else(|| panic!("{plan:#}"))
}

#[test]
fn every_change_and_the_plan_show_what_they_cost() {
    let dir = fleet("", SERVERS);
    let plan = plan_json(dir.path(), &[]);
    // pay and pay-ro: 4 × 0.0876 × 730 + 100 × 0.115 = 255.792 + 11.50 = 267.29 each.
    // orders: 4 × 0.089 × 730 + 128 × 0.115 = 259.88 + 14.72 = 274.60, twice with its standby.
    for (id, monthly) in [
        ("create:pay", 267.29),
        ("create:pay-ro", 267.29),
        ("create:orders", 549.2),
        ("create:orders-ro", 274.6),
    ] {
        assert_eq!(change(&plan, id)["cost"]["monthly_delta"], monthly, "{id}: {:#}", change(&plan, id));
        assert_eq!(change(&plan, id)["cost"]["monthly_after"], monthly);
    }
    let cost = &plan["cost"];
    assert_eq!(
        (cost["monthly_before"].as_f64(), cost["monthly_delta"].as_f64()),
        (Some(0.0), Some(1358.38)),
        "{cost:#}"
    );
    assert_eq!((cost["monthly_after"].as_f64(), cost["currency"].as_str()), (Some(1358.38), Some("USD")));
    assert_eq!(cost["as_of"], "2026-12-06");
    assert!(cost["excludes"].as_str().unwrap().contains("backup storage beyond the free amount"));

    let human = pgfleet(dir.path(), &["plan", "--refresh=false"]);
    let human = text(&human.stdout);
    assert!(human.contains("  cost: +$1,358.38/month · fleet $0.00 → $1,358.38/month"), "{human}");
    assert!(human.contains("    cost: +$549.20/month"), "{human}");
    assert!(
        human.contains("prices: pricing/azure-postgresql.toml (as of 2026-12-06, pay-as-you-go USD)"),
        "{human}"
    );

    let markdown = pgfleet(dir.path(), &["plan", "--refresh=false", "--format", "markdown"]);
    let markdown = text(&markdown.stdout);
    assert!(
        markdown.contains("| server | change | impact | expected downtime | cost / month | why |"),
        "{markdown}"
    );
    assert!(markdown.contains("| +$549.20 |"), "{markdown}");
    assert!(markdown.contains("**Cost:** +$1,358.38/month"), "{markdown}");
}

#[test]
fn a_price_file_of_the_fleets_own_replaces_the_shipped_prices() {
    let dir = fleet(
        "file = \"rates.toml\"\n",
        "[servers.orders]\nservice = \"flexible\"\nversion = \"16\"\nsku = \"Standard_D4ds_v5\"\nstorage_gb = 128\n\n\
         [servers.pay]\nversion = \"11\"\ntier = \"GeneralPurpose\"\nvcores = 4\nstorage_gb = 100\n",
    );
    // Negotiated rates in euros: the whole table is theirs, so Single Server has no price.
    std::fs::write(
        dir.path().join("rates.toml"),
        "currency = \"EUR\"\nhours_per_month = 730\nsource = \"our 2027 agreement\"\nas_of = \"2026-11-30\"\n\n\
         [flexible.regions.eastus]\nsource = \"agreement annex B\"\nas_of = \"2026-11-30\"\n\
         storage_gb_month = 0.10\nvcore_hour = { Ddsv5 = 0.05 }\n",
    )
    .unwrap();
    let plan = plan_json(dir.path(), &[]);
    // 4 × 0.05 × 730 + 128 × 0.10 = 146.00 + 12.80.
    assert_eq!(change(&plan, "create:orders")["cost"]["monthly_delta"], 158.8);
    let pay = &change(&plan, "create:pay")["cost"];
    assert!(pay.get("monthly_delta").is_none(), "an unknown figure is absent: {pay:#}");
    assert!(pay["unknown"].as_str().unwrap().contains("no Single Server prices for eastus"), "{pay:#}");
    let cost = &plan["cost"];
    assert!(cost.get("monthly_delta").is_none() && cost["currency"] == "EUR", "{cost:#}");
    assert!(cost["prices_file"].as_str().unwrap().ends_with("rates.toml"));

    let human = text(&pgfleet(dir.path(), &["plan", "--refresh=false"]).stdout);
    assert!(human.contains("  cost: unknown (a price is missing: see Cost)"), "{human}");
    assert!(human.contains("    cost: +€158.80/month"), "{human}");
    assert!(human.contains("    cost: unknown (no Single Server prices for eastus"), "{human}");
}

#[test]
fn a_timetabled_server_is_priced_hour_by_hour() {
    let dir = fleet(
        "",
        "[servers.orders]\nservice = \"flexible\"\nversion = \"16\"\nsku = \"Standard_D2ds_v5\"\nstorage_gb = 32\n\
         [[servers.orders.schedule]]\ndays = \"Mon-Fri\"\nfrom = \"08:00\"\nto = \"18:00\"\ntimezone = \"UTC\"\nsku = \"Standard_D8ds_v5\"\n",
    );
    // From Monday 2026-12-07 00:00 UTC the month's 730 hours hold 222 business hours:
    // 133.62 + (523.44 − 133.62) × 222 / 730 = 252.17.
    let plan = plan_json(dir.path(), &["--at", "2026-12-07T00:00:00Z"]);
    let scheduled = &plan["cost"]["scheduled"][0];
    assert_eq!((scheduled["server"].as_str(), scheduled["monthly"].as_f64()), (Some("orders"), Some(252.17)));
    assert_eq!(scheduled["monthly_unscheduled"], 133.62);
    let human =
        text(&pgfleet(dir.path(), &["plan", "--refresh=false", "--at", "2026-12-07T00:00:00Z"]).stdout);
    assert!(
        human.contains(
            "orders on its timetable: $252.17/month over the coming month ($133.62/month without it)"
        ),
        "{human}"
    );
}

#[test]
fn a_broken_price_file_is_refused_with_its_position_and_nothing_changes() {
    let dir = fleet(
        "file = \"rates.toml\"\n",
        "[servers.pay]\nversion = \"11\"\ntier = \"Basic\"\nvcores = 2\nstorage_gb = 50\n",
    );
    std::fs::write(
        dir.path().join("rates.toml"),
        "currency = \"USD\"\nhours_per_month = 730\nsurprise = true\n",
    )
    .unwrap();
    let out = pgfleet(dir.path(), &["validate"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("pricing.file"), "{stderr}");
    assert!(stderr.contains("rates.toml:3:1: unknown field `surprise`"), "{stderr}");
    assert!(stderr.contains("pricing/azure-postgresql.toml"), "the hint names the format: {stderr}");
    assert!(!dir.path().join("state.json").exists());
    // A region the table does not price is a warning, not an error.
    let dir = fleet("", "[servers.pay]\nversion = \"11\"\ntier = \"Basic\"\nvcores = 2\nstorage_gb = 50\n");
    let text_of = std::fs::read_to_string(dir.path().join("fleet.toml")).unwrap();
    std::fs::write(dir.path().join("fleet.toml"), text_of.replace("\"eastus\"", "\"northpole\"")).unwrap();
    let out = pgfleet(dir.path(), &["validate"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("the price table has no prices for northpole"), "{stderr}");
}
