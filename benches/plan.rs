//! Planning time for large fleets: builds fleets of 100, 1,000 and 10,000 servers (one primary
//! with three read replicas per group; every fourth group scales up, every fourth scales down,
//! one in ten gets a new replica) and prints how long `plan::build` takes without a refresh
//! (live = the state's record). Prints figures; asserts nothing.

use chrono::Utc;
use pgfleet::config::{DesiredFleet, DesiredServer, LocalSettings, ProviderSettings, SecretRef, SourceFile};
use pgfleet::model::{ObservedServer, ServerName, ServerSpec, ServerStatus};
use pgfleet::plan::{self, PlanRequest};
use pgfleet::rules::{PgVersion, ReplicationSupport, Tier};
use pgfleet::state::{ServerRecord, State};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn spec(vcores: u32, storage_gb: u32, replica_of: Option<&ServerName>) -> ServerSpec {
    ServerSpec {
        tags: BTreeMap::from([("team".to_string(), "payments".to_string())]),
        replica_of: replica_of.cloned(),
        ..ServerSpec::new(
            Tier::GeneralPurpose,
            vcores,
            storage_gb,
            PgVersion::V11,
            "fleetadmin",
            "westeurope",
        )
    }
}

/// A fleet of `servers` servers and the state that records its current shape.
fn fleet(servers: usize) -> (DesiredFleet, State) {
    let mut desired = DesiredFleet {
        name: "bench".into(),
        provider: ProviderSettings::Local(LocalSettings { root: "state/local".into(), port_base: 54320 }),
        servers: BTreeMap::new(),
        state: Default::default(),
        source: SourceFile { path: "fleet.toml".into(), sha256: "00".repeat(32) },
        pricing: Default::default(),
    };
    let mut state = State::new("bench");
    let mut add = |name: ServerName, live: Option<ServerSpec>, wanted: ServerSpec| {
        if let Some(live) = live {
            let observed = ObservedServer {
                name: name.clone(),
                provider_id: format!("/servers/{name}"),
                spec: live,
                status: ServerStatus::Ready,
                replication_support: ReplicationSupport::Replica,
                endpoint: None,
            };
            state.servers.insert(name.clone(), ServerRecord::new(observed));
        }
        let server = DesiredServer {
            name: name.clone(),
            base: wanted.clone(),
            spec: wanted,
            admin_password: SecretRef::Env("PGFLEET_ADMIN_PASSWORD".into()),
            line: 1,
            schedule: Vec::new(),
        };
        desired.servers.insert(name, server);
    };
    for group in 0..servers / 4 {
        let primary = ServerName::new(format!("pay-{group:05}"));
        let (live_vcores, want_vcores) = match group % 4 {
            0 => (4, 8),
            1 => (8, 4),
            _ => (4, 4),
        };
        add(primary.clone(), Some(spec(live_vcores, 100, None)), spec(want_vcores, 100, None));
        for index in 0..3 {
            let name = ServerName::new(format!("pay-{group:05}-ro-{index}"));
            let live = (index < 2 || group % 10 != 0).then(|| spec(live_vcores, 100, Some(&primary)));
            add(name, live, spec(want_vcores, 100, Some(&primary)));
        }
    }
    (desired, state)
}

fn main() {
    println!("plan::build, refresh=false (live = the state's record)");
    for servers in [100, 1_000, 10_000] {
        let (desired, state) = fleet(servers);
        let live = state.observed();
        let request = PlanRequest {
            desired: &desired,
            stored: Some(&state),
            live: &live,
            refreshed: false,
            allow_delete: false,
            now: Utc::now(),
            at: Utc::now(),
        };
        let runs = if servers >= 10_000 { 3 } else { 10 };
        let mut best = Duration::MAX;
        let mut plan = None;
        for _ in 0..runs {
            let started = Instant::now();
            plan = Some(plan::build(&request));
            best = best.min(started.elapsed());
        }
        let plan = plan.expect("at least one run");
        let started = Instant::now();
        let id = plan::plan_id(&plan);
        let id_time = started.elapsed();
        println!(
            "{servers:>6} servers: build {:>9.2} ms (best of {runs}), {} changes in {} waves; plan_id {:>8.2} ms ({}…)",
            best.as_secs_f64() * 1e3,
            plan.changes.len(),
            plan.changes.iter().map(|c| c.wave).max().unwrap_or(0),
            id_time.as_secs_f64() * 1e3,
            &id[..15],
        );
    }
}
