#!/usr/bin/env bash
# Counts how many `pgfleet apply` runs killed (SIGKILL, as a crash or the OOM killer would) in
# the middle of a local-provider migration are finished by the first re-run with no row lost:
# the scenario of tests/it/local_cli_migration.rs, at many kill points, for any pgfleet binary
# (to compare releases). Against real PostgreSQL (the `local` provider; pg_ctl, psql and the
# server binaries on the machine).
#
# First one migration is run unkilled, to measure how long it takes (D: from the apply's start
# to its exit). Then for each kill i (0..KILLS-1): a fleet in a temporary directory with one
# Basic server `ledger`, created by `pgfleet apply`, filled with ROWS rows (50,000 unless
# given) through psql (row count and md5 of every row recorded); the fleet file changed to
# General Purpose (a dump/restore migration); `pgfleet apply --auto-approve --json` started
# and killed after
# D * (i + 0.5) / KILLS seconds, so the kill points spread evenly over the migration; then
# `pgfleet apply --auto-approve` once more. A kill counts as converged when that re-run exits 0,
# `pgfleet plan --detailed-exitcode` exits 0 and the row count and md5 match. Kill points where
# the apply had already exited (the migration's length varies) are counted apart, and so are
# tools the killed apply started that still run 300 ms after the kill (an orphaned
# `postgres --single` of initdb, pg_dump...). The last `step_progress` message the killed apply
# printed names where it was killed. Afterwards the fleet is destroyed, every cluster under the
# directory stopped and the directory removed; a process still mentioning the directory or
# working in it is reported (and killed) as a stray.
#
# Usage: scripts/kill-figures.sh [PGFLEET] [KILLS] [ROWS]
#   PGFLEET   the binary measured (default target/debug/pgfleet)
#   KILLS     how many killed applies (default 30)
#   ROWS      rows in the migrated server (default 50000; more rows give the data phases a
#             larger share of the kill points)
set -euo pipefail

pgfleet=$(realpath "${1:-target/debug/pgfleet}")
kills=${2:-30}
rows=${3:-50000}
password="Kill-Figures-Password-1"
export PGPASSWORD=$password NO_COLOR=1
unset PGFLEET_STATE PGFLEET_CONFIG GITHUB_ACTIONS GITHUB_STEP_SUMMARY

if command -v psql >/dev/null; then
    psql=$(command -v psql)
else
    psql=$(ls /usr/lib/postgresql/*/bin/psql /usr/local/pgsql/bin/psql 2>/dev/null | tail -n1)
    [[ -x $psql ]] || { echo "no psql found" >&2; exit 1; }
fi
pg_ctl=$(command -v pg_ctl || ls /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | tail -n1)

parent=$(mktemp -d /tmp/pgfleet-kill.XXXXXX)
chmod 755 "$parent" # run as root, pgfleet runs the clusters as `postgres`, which must reach the root
dir=""
apply_pid=""

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port_base() { # first i: a block of 20 free ports from 56000 + 20 * i on
    local base=$((56000 + 20 * $1)) port busy
    while :; do
        busy=0
        for ((port = base; port < base + 20; port++)); do
            if port_in_use "$port"; then busy=1; break; fi
        done
        ((busy)) || { echo "$base"; return; }
        base=$((base + 20 * (kills + 1)))
    done
}

fleet_toml() { # dir port_base tier vcores
    printf '[fleet]\nname = "kill"\n\n[provider]\nkind = "local"\n\n[provider.local]\nroot = "%s/local"\n' "$1"
    printf 'port_base = %s\n\n[defaults]\nversion = "11"\ngeneration = "Gen5"\nstorage_gb = 20\n' "$2"
    printf 'ssl_enforcement = false\nminimal_tls_version = "TLSEnforcementDisabled"\n'
    printf 'admin_login = "fleetadmin"\nadmin_password = { file = "password" }\n\n'
    printf '[servers.ledger]\ntier = "%s"\nvcores = %s\n' "$3" "$4"
}

pgf() { # dir args...: pgfleet ARGS -c fleet.toml --state state.json, in dir, no stdin
    local d=$1
    shift
    (cd "$d" && "$pgfleet" "$@" -c "$d/fleet.toml" --state "$d/state.json" </dev/null)
}

sql() { # port query: one unaligned value
    "$psql" -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U fleetadmin -d postgres -c "$2"
}

port_of() { # dir: the port `pgfleet endpoint ledger` prints
    local uri
    uri=$(pgf "$1" endpoint ledger 2>/dev/null) || return 1
    uri=${uri##*:}
    echo "${uri%%/*}"
}

fingerprint() { # port
    sql "$1" "SELECT count(*) || ' ' || md5(string_agg(t::text, '|' ORDER BY t.id)) FROM ledger_entries t"
}

# A Basic ledger with the rows, then the fleet file asking for General Purpose. Prints the
# fingerprint.
prepare() { # dir i
    local d=$1 port
    mkdir -p -m 755 "$d"
    echo -n "$password" >"$d/password"
    fleet_toml "$d" "$(free_port_base "$2")" Basic 1 >"$d/fleet.toml"
    pgf "$d" apply --auto-approve >"$d/create.out" 2>"$d/create.err" ||
        { echo "creating the Basic server failed:" >&2; tail -n5 "$d/create.err" >&2; return 1; }
    port=$(port_of "$d") || return 1
    sql "$port" "CREATE TABLE ledger_entries (id bigserial PRIMARY KEY, account int NOT NULL,
            amount numeric(12, 2), note text, at timestamptz);
        INSERT INTO ledger_entries (account, amount, note, at)
            SELECT g % 977, (g % 10007) * 0.37, md5(g::text), timestamptz '2024-01-01' + g * interval '1 second'
            FROM generate_series(1, $rows) g;
        CREATE INDEX ledger_entries_by_account ON ledger_entries (account);" >/dev/null || return 1
    sed -i 's/^tier = "Basic"/tier = "GeneralPurpose"/; s/^vcores = 1$/vcores = 2/' "$d/fleet.toml"
    fingerprint "$port"
}

# Destroys the fleet, stops every cluster left under the directory, kills (and counts) any
# process still mentioning it, removes it. Prints the number of strays.
teardown() { # dir
    local d=$1 pidfile data owner strays
    [[ -d $d ]] || { echo 0; return; }
    timeout 180 "$pgfleet" destroy --allow-delete --auto-approve -c "$d/fleet.toml" --state "$d/state.json" \
        </dev/null >/dev/null 2>&1 || true
    while IFS= read -r pidfile; do
        data=$(dirname "$pidfile")
        owner=$(stat -c %U "$data")
        if [[ $(id -u) == 0 && $owner != root ]]; then
            runuser -u "$owner" -- "$pg_ctl" stop -D "$data" -m immediate -w >/dev/null 2>&1 || true
        else
            "$pg_ctl" stop -D "$data" -m immediate -w >/dev/null 2>&1 || true
        fi
    done < <(find "$d/local" -name postmaster.pid 2>/dev/null)
    strays=$(procs_under "$d" | cut -d' ' -f1)
    if [[ -n $strays ]]; then
        for pid in $strays; do kill -KILL "$pid" 2>/dev/null || true; done
        sleep 0.5
    fi
    rm -rf "$d"
    echo "$strays" | grep -c . || true
}

cleanup() {
    if [[ -n $apply_pid ]]; then kill -KILL "$apply_pid" 2>/dev/null || true; wait "$apply_pid" 2>/dev/null || true; fi
    if [[ -n $dir ]]; then teardown "$dir" >/dev/null; fi
    rm -rf "$parent"
}
trap cleanup EXIT

now() { date +%s.%N; }

# "PID NAME" of every process whose command line mentions the directory or that works in it (an
# orphaned `postgres --boot`/`--single` of initdb names its data directory nowhere else).
procs_under() { # dir
    local pid cmd name
    for pid in $({ pgrep -f "$1/" || true
        find /proc/[0-9]*/cwd -maxdepth 0 \( -lname "$1" -o -lname "$1/*" \) 2>/dev/null | cut -d/ -f3; } | sort -u); do
        [[ $pid != "$$" && $pid != "$BASHPID" ]] || continue
        cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || continue
        [[ -n $cmd ]] || continue
        name=${cmd%% *}
        name=${name##*/}
        if [[ $cmd == *" --boot"* ]]; then name="$name --boot"; elif [[ $cmd == *" --single"* ]]; then name="$name --single"; fi
        echo "$pid $name"
    done
}

started=$(now)

# The unkilled migration: its duration, and a check that it converges at all.
dir=$parent/baseline
expected=$(prepare "$dir" "$kills")
t0=$(now)
if ! pgf "$dir" apply --auto-approve --json >"$dir/events" 2>"$dir/err"; then
    echo "the unkilled migration failed:" >&2
    tail -n 10 "$dir/err" >&2
    exit 1
fi
duration=$(echo "$(now) - $t0" | bc -l)
baseline_rows=$(fingerprint "$(port_of "$dir")")
[[ $baseline_rows == "$expected" ]] || { echo "the unkilled migration lost rows: $baseline_rows vs $expected" >&2; exit 1; }
baseline_strays=$(teardown "$dir")
dir=""
printf 'binary: %s\nunkilled migration: %.2fs (%s rows, md5 kept; %s strays)\n' \
    "$pgfleet" "$duration" "$rows" "$baseline_strays"

converged=0 converged_unkilled=0 setup_failures=0 finished_before_kill=0 strays_total=$baseline_strays
leftover_tools=0 leftover_names=""
failures=()
for ((i = 0; i < kills; i++)); do
    dir=$parent/k$i
    if ! expected=$(prepare "$dir" "$i"); then
        echo "kill $i: setting up the Basic server failed; skipped"
        setup_failures=$((setup_failures + 1))
        teardown "$dir" >/dev/null
        dir=""
        continue
    fi
    delay=$(echo "$duration * ($i + 0.5) / $kills" | bc -l)
    (cd "$dir" && exec "$pgfleet" apply --auto-approve --json -c "$dir/fleet.toml" --state "$dir/state.json" \
        </dev/null >"$dir/killed.events" 2>"$dir/killed.err") &
    apply_pid=$!
    sleep "$delay"
    killed=yes
    if ! kill -KILL "$apply_pid" 2>/dev/null; then killed=no; fi
    wait "$apply_pid" 2>/dev/null || true
    apply_pid=""
    [[ $killed == yes ]] || finished_before_kill=$((finished_before_kill + 1))
    where=$(grep -o '"type":"step_progress".*"message":"[^"]*"' "$dir/killed.events" 2>/dev/null | tail -n1 |
        sed 's/.*"message":"\([^"]*\)"/\1/' || true)
    [[ -n $where ]] || where="before the first step_progress"
    # Tools the killed apply started (initdb, pg_dump, pg_restore, pg_ctl...) that outlive it,
    # 300 ms on; a running cluster's postmaster (`postgres -D`) is not one.
    sleep 0.3
    tools=$(procs_under "$dir" | grep -v -E ' postgres:?$' | cut -d' ' -f2- | tr ' ' '_' || true)
    if [[ -n $tools ]]; then
        leftover_tools=$((leftover_tools + $(echo "$tools" | grep -c .)))
        leftover_names="$leftover_names $(echo $tools)"
    fi

    verdict="" detail=""
    outlived=""
    [[ -z $tools ]] || outlived="; still running 300 ms after the kill: $(echo $tools | tr '_' ' ')"
    if ! timeout 600 "$pgfleet" apply --auto-approve -c "$dir/fleet.toml" --state "$dir/state.json" \
        </dev/null >"$dir/rerun.out" 2>"$dir/rerun.err"; then
        verdict="re-run apply failed"
        detail=$(tail -n 8 "$dir/rerun.err")
    else
        plan_rc=0
        pgf "$dir" plan --detailed-exitcode >"$dir/plan.out" 2>"$dir/plan.err" || plan_rc=$?
        if [[ $plan_rc != 0 ]]; then
            verdict="plan --detailed-exitcode exited $plan_rc"
            detail=$(tail -n 8 "$dir/plan.out"; tail -n 4 "$dir/plan.err")
        else
            got=$(fingerprint "$(port_of "$dir")" 2>"$dir/psql.err") || got="(psql failed: $(tail -n1 "$dir/psql.err"))"
            if [[ $got != "$expected" ]]; then
                verdict="rows differ"
                detail="expected $expected, got $got"
            fi
        fi
    fi
    if [[ -z $verdict ]]; then
        if [[ $killed == yes ]]; then converged=$((converged + 1)); else converged_unkilled=$((converged_unkilled + 1)); fi
        printf 'kill %2d at %5.2fs (%s): converged%s\n' "$i" "$delay" "$where" "$outlived"
    else
        verdict="$verdict$outlived"
        printf 'kill %2d at %5.2fs (%s): %s\n' "$i" "$delay" "$where" "$verdict"
        [[ $killed == yes ]] || verdict="$verdict (the apply had exited before the kill)"
        failures+=("kill $i at $(printf '%.2f' "$delay")s ($where): $verdict
$(echo "$detail" | sed 's/^/    /')")
    fi
    [[ $killed == yes ]] || echo "  (the apply had exited before the kill)"
    strays=$(teardown "$dir")
    dir=""
    if [[ $strays != 0 ]]; then echo "  $strays stray processes killed"; fi
    strays_total=$((strays_total + strays))
done

left=$(procs_under "$parent")
echo
echo "binary: $pgfleet"
landed=$((kills - setup_failures - finished_before_kill))
printf 'kill points: %s, spread over %.2fs (%s not set up)\n' "$kills" "$duration" "$setup_failures"
printf 'kills that landed: %s; converged on first re-run: %s; failed: %s\n' \
    "$landed" "$converged" "$((landed - converged))"
printf 'applies that exited before their kill: %s (%s then converged)\n' "$finished_before_kill" "$converged_unkilled"
echo "tools outliving a killed apply by 300 ms: $leftover_tools${leftover_names:+ (}${leftover_names# }${leftover_names:+)};" \
    "stray processes at teardown: $strays_total; left at the end: $(echo "$left" | grep -c . || true)"
printf 'wall time: %.0fs\n' "$(echo "$(now) - $started" | bc -l)"
for failure in "${failures[@]}"; do echo "$failure"; done
