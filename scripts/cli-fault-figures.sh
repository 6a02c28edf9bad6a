#!/usr/bin/env bash
# Counts how many pgfleet CLI runs fail under the emulator's faults: the scenario of
# tests/it/azure_e2e_faults.rs, for any pgfleet binary (to compare releases). For each seed: an
# emulator with the fault mix below, a 20-server fleet created, scaled up, scaled down (per
# phase: plan, apply, plan --detailed-exitcode, refresh) and destroyed (destroy, refresh).
# A run fails when it does not exit 0 the first time.
#
# Usage: scripts/cli-fault-figures.sh [PGFLEET] [SEEDS] [EMULATOR]
#   PGFLEET   the binary whose commands are counted (default target/debug/pgfleet)
#   SEEDS     how many seeds (default 20)
#   EMULATOR  the binary that runs `pgfleet emulator` (default PGFLEET)
set -euo pipefail

pgfleet=$(realpath "${1:-target/debug/pgfleet}")
seeds=${2:-20}
emulator_bin=$(realpath "${3:-$pgfleet}")
faults="429=0.05,500=0.02,409=0.02,drop=0.01,lost=0.01"
latency="create=60ms,update=30ms,restart=30ms,delete=20ms,invisible=30ms"

fleet_toml() { # endpoint phase
    local endpoint=$1 phase=$2 vcores storage basic_vcores basic_storage pri2
    case $phase in
        initial) vcores=2 storage=100 basic_vcores=1 basic_storage=50 pri2=3 ;;
        up) vcores=4 storage=200 basic_vcores=2 basic_storage=60 pri2=4 ;;
        down) vcores=2 storage=200 basic_vcores=1 basic_storage=60 pri2=3 ;;
    esac
    printf '[fleet]\nname = "faults"\n[provider]\nkind = "azure"\n[provider.azure]\n'
    printf 'subscription_id = "00000000-0000-0000-0000-000000000001"\nresource_group = "rg-fleet"\n'
    printf 'location = "westeurope"\nendpoint = "%s"\n' "$endpoint"
    printf '[defaults]\nversion = "11"\ntier = "GeneralPurpose"\ngeneration = "Gen5"\n'
    printf 'vcores = %s\nstorage_gb = %s\nadmin_login = "fleetadmin"\nadmin_password = { file = "password" }\n' \
        "$vcores" "$storage"
    for spec in "pri1 4" "pri2 $pri2" "pri3 2"; do
        set -- $spec
        printf '[servers.%s]\n' "$1"
        for ((r = 1; r <= $2; r++)); do
            printf '[servers.%s-r%s]\nreplica_of = "%s"\n' "$1" "$r" "$1"
            if [[ $1 == pri1 && $r == 1 ]]; then printf 'vcores = %s\n' $((vcores * 2)); fi
        done
    done
    for g in 1 2 3; do printf '[servers.gp%s]\n' "$g"; done
    for b in 1 2 3 4 5; do
        printf '[servers.bas%s]\ntier = "Basic"\nvcores = %s\nstorage_gb = %s\n' "$b" "$basic_vcores" "$basic_storage"
    done
}

runs=0 failures=0
declare -A failed_by_command
emulator_pid=""
cleanup() { if [[ -n $emulator_pid ]]; then kill "$emulator_pid" 2>/dev/null || true; wait "$emulator_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

run() { # dir endpoint args...
    local dir=$1 endpoint=$2
    shift 2
    runs=$((runs + 1))
    if ! NO_COLOR=1 AZURE_TENANT_ID=tenant-1 AZURE_CLIENT_ID=client-1 AZURE_CLIENT_SECRET=client-secret \
        AZURE_AUTHORITY_HOST=$endpoint PGFLEET_AZURE_POLL_INTERVAL=20ms PGFLEET_RETRY_BACKOFF=10ms \
        "$pgfleet" "$@" -c "$dir/fleet.toml" --state "$dir/state.json" </dev/null >"$dir/out" 2>"$dir/err"; then
        failures=$((failures + 1))
        failed_by_command[$1]=$((${failed_by_command[$1]:-0} + 1))
    fi
}

for ((seed = 0; seed < seeds; seed++)); do
    dir=$(mktemp -d)
    echo -n "Correct-Horse-9" >"$dir/password"
    "$emulator_bin" emulator --listen 127.0.0.1:0 --seed "$seed" --faults "$faults" --latency "$latency" \
        --no-throttling >"$dir/emulator.out" 2>/dev/null &
    emulator_pid=$!
    until [[ -s $dir/emulator.out ]]; do sleep 0.05; done
    endpoint=$(head -n1 "$dir/emulator.out")
    for phase in initial up down; do
        fleet_toml "$endpoint" "$phase" >"$dir/fleet.toml"
        run "$dir" "$endpoint" plan --allow-delete
        run "$dir" "$endpoint" apply --auto-approve --allow-delete
        run "$dir" "$endpoint" plan --detailed-exitcode --allow-delete
        run "$dir" "$endpoint" refresh
    done
    run "$dir" "$endpoint" destroy --allow-delete --auto-approve
    run "$dir" "$endpoint" refresh
    cleanup
    emulator_pid=""
    rm -rf "$dir"
done

echo "binary: $pgfleet"
echo "seeds: $seeds; CLI runs: $runs; failed: $failures ($((100 * failures / runs))%)"
for command in "${!failed_by_command[@]}"; do echo "  $command: ${failed_by_command[$command]} failed"; done
