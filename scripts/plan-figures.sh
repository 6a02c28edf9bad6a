#!/usr/bin/env bash
# Planning speed and memory, side by side with Terraform (issue "Performance"): prints figures,
# asserts nothing.
#
#   scripts/plan-figures.sh [SIZES...]      (default: 10000 50000)
#
# For each size N it writes a fleet of N/5 primaries with four read replicas each (Single
# Server, General Purpose, priced as eastus) and times, as the median of RUNS runs (default 3):
#   - `pgfleet plan --refresh=false` with no state (N creates), in the human form, --json,
#     --format markdown and --out PLANFILE (with the plan file's size);
#   - a no-change plan: the same fleet with a state that records every server as it is.
# Peak RSS comes from /usr/bin/time. Terraform plans N/5 `terraform_data` resources with
# `-refresh=false` in the same run (skipped with a message when `terraform` is not installed),
# and the ratio printed is pgfleet's time per server against Terraform's per resource.
#
# Uses target/release/pgfleet (built when missing). Needs python3.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${RUNS:-3}"
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 50000)
[ -x target/release/pgfleet ] || cargo build --release --quiet
bin="$PWD/target/release/pgfleet"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Median wall seconds and peak RSS (MB) of running "$@" RUNS times.
measure() {
    local times=() rss=()
    for _ in $(seq "$runs"); do
        /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null 2>"$work/stderr" || {
            cat "$work/stderr" >&2
            return 1
        }
        read -r seconds kb <"$work/time"
        times+=("$seconds")
        rss+=("$kb")
    done
    python3 - "${times[*]}" "${rss[*]}" <<'EOF'
import statistics, sys
times = [float(t) for t in sys.argv[1].split()]
rss = [int(k) for k in sys.argv[2].split()]
print(f"{statistics.median(times):.3f} {max(rss) / 1024:.1f}")
EOF
}

write_fleet() {
    local servers="$1" dir="$2"
    mkdir -p "$dir"
    python3 - "$servers" "$dir" <<'EOF'
import sys
servers, directory = int(sys.argv[1]), sys.argv[2]
lines = [
    '[fleet]\nname = "large"\n',
    '[provider]\nkind = "azure"\n[provider.azure]\nsubscription_id = "00000000-0000-0000-0000-000000000000"\n'
    'resource_group = "fleet"\nlocation = "eastus"\n',
    '[defaults]\nversion = "11"\ntier = "GeneralPurpose"\nvcores = 4\nstorage_gb = 100\n'
    'admin_login = "fleetadmin"\nadmin_password = { env = "PGFLEET_ADMIN_PASSWORD" }\n',
]
for group in range(servers // 5):
    primary = f"pg-{group:05d}"
    lines.append(f'[servers.{primary}]\ntags = {{ team = "payments" }}\n')
    for replica in range(1, 5):
        lines.append(f'[servers.{primary}-ro-{replica}]\nreplica_of = "{primary}"\n')
open(f"{directory}/fleet.toml", "w").write("\n".join(lines))
EOF
}

write_terraform() {
    local resources="$1" dir="$2"
    mkdir -p "$dir"
    cat >"$dir/main.tf" <<EOF
resource "terraform_data" "server" {
  count = $resources
  input = { name = "pg-\${count.index}", tier = "GeneralPurpose", vcores = 4, storage_gb = 100, team = "payments" }
}
EOF
    (cd "$dir" && terraform init -input=false >/dev/null 2>&1)
}

export PGFLEET_ADMIN_PASSWORD="Figures-Only-1" NO_COLOR=1
printf '%-8s %-26s %9s %9s %12s\n' servers form seconds "RSS MB" "ms/1k srv"
for n in "${sizes[@]}"; do
    dir="$work/fleet-$n"
    write_fleet "$n" "$dir"
    plan=("$bin" plan --refresh=false -c "$dir/fleet.toml" --state "$dir/none.state.json")
    for form in human json markdown out; do
        case "$form" in
            human) extra=() ;;
            json) extra=(--json) ;;
            markdown) extra=(--format markdown) ;;
            out) extra=(--out "$dir/plan.bin") ;;
        esac
        read -r seconds mb < <(measure "${plan[@]}" "${extra[@]}")
        label="plan $form"
        [ "$form" = out ] && label="plan --out ($(( $(stat -c %s "$dir/plan.bin") / 1024 )) KiB)"
        printf '%-8s %-26s %9s %9s %12.1f\n' "$n" "$label" "$seconds" "$mb" "$(python3 -c "print($seconds * 1e6 / $n)")"
        [ "$form" = human ] && pgfleet_seconds="$seconds"
    done
    # A state recording every server as the file has it: a plan with no changes.
    python3 - "$n" "$dir" <<'EOF'
import json, sys, uuid
servers, directory = int(sys.argv[1]), sys.argv[2]
def spec(replica_of=None, tags=None):
    spec = {"tier": "GeneralPurpose", "generation": "Gen5", "vcores": 4, "storage_gb": 100, "version": "11",
            "backup_retention_days": 7, "geo_redundant_backup": False, "storage_autogrow": True,
            "ssl_enforcement": True, "minimal_tls_version": "TLS1_2", "admin_login": "fleetadmin",
            "location": "eastus", "tags": tags or {}}
    if replica_of:
        spec["replica_of"] = replica_of
    return spec
records = {}
for group in range(servers // 5):
    primary = f"pg-{group:05d}"
    names = [(primary, None, {"team": "payments"})] + [(f"{primary}-ro-{r}", primary, {}) for r in range(1, 5)]
    for name, replica_of, tags in names:
        records[name] = {"address": f"servers.{name}", "name": name,
                         "provider_id": f"/subscriptions/s/resourceGroups/fleet/providers/Microsoft.DBforPostgreSQL/servers/{name}",
                         "spec": spec(replica_of, tags), "status": "ready", "replication_support": "REPLICA",
                         "configured_storage_gb": 100}
state = {"format_version": 1, "tool_version": "0.1.0", "lineage": str(uuid.uuid4()), "serial": 1, "fleet": "large",
         "servers": records}
json.dump(state, open(f"{directory}/full.state.json", "w"))
EOF
    if "$bin" plan --refresh=false --detailed-exitcode -c "$dir/fleet.toml" --state "$dir/full.state.json" >/dev/null 2>"$work/nochange"; then
        read -r seconds mb < <(measure "$bin" plan --refresh=false -c "$dir/fleet.toml" --state "$dir/full.state.json")
        printf '%-8s %-26s %9s %9s %12.1f\n' "$n" "plan, no changes" "$seconds" "$mb" "$(python3 -c "print($seconds * 1e6 / $n)")"
    else
        echo "$n: the recorded state did not give a no-change plan (skipped):" >&2
        head -5 "$work/nochange" >&2
    fi
    if command -v terraform >/dev/null; then
        resources=$((n / 5))
        write_terraform "$resources" "$work/tf-$n"
        read -r tf_seconds tf_mb < <(measure terraform -chdir="$work/tf-$n" plan -refresh=false -input=false -lock=false)
        printf '%-8s %-26s %9s %9s %12.1f\n' "$resources" "terraform plan (resources)" "$tf_seconds" "$tf_mb" \
            "$(python3 -c "print($tf_seconds * 1e6 / $resources)")"
        python3 -c "print(f'  pgfleet is {($tf_seconds / $resources) / ($pgfleet_seconds / $n):.0f}x faster per resource than Terraform')"
    else
        echo "  terraform is not installed: the Terraform comparison is skipped"
    fi
done
