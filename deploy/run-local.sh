#!/usr/bin/env bash
# Starts a coordinator and N worker processes on 127.0.0.1, waits for training to finish, then stops
# the workers cleanly (SIGTERM → graceful leave, exit 0). Ctrl+C stops everything (the coordinator
# writes --out and a checkpoint first). The coordinator's lines go to the terminal; worker logs to $LOGS.
#   deploy/run-local.sh [WORKERS=2] [extra coordinator options…]
#   e.g. deploy/run-local.sh 3 --epochs 2 --out model.safetensors
# Environment: PORT (4053), LOGS (a temp folder), CONFIGURATION (Release), THREADS (kernel threads per worker,
# default max(1, cores / WORKERS)), STATE (the cluster's state dir: CA, certificates, tokens; default $LOGS/state).
# Secure by default: a join token is made first (`token create`, which also creates the CA), so the workers can
# enrol before the coordinator is up; INSECURE=1 runs plain TCP instead.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
workers=${1:-2}
[ $# -gt 0 ] && shift
case $workers in '' | *[!0-9]* | 0) echo "usage: $0 [WORKERS ≥ 1] [coordinator options…]" >&2; exit 2 ;; esac
port=${PORT:-4053}
logs=${LOGS:-$(mktemp -d -t distbackprop-logs.XXXXXX)}
configuration=${CONFIGURATION:-Release}
cores=$(nproc 2>/dev/null || echo 2)
threads=${THREADS:-$(( cores / workers > 0 ? cores / workers : 1 ))}
mkdir -p "$logs"
echo "building src/DistBackprop.Host ($configuration)…"
dotnet build "$root/src/DistBackprop.Host" -c "$configuration" -v quiet -nologo >"$logs/build.log" 2>&1 \
  || { echo "build failed, see $logs/build.log" >&2; exit 1; }
bin="$root/src/DistBackprop.Host/bin/$configuration/net10.0/distbackprop.dll"
state=${STATE:-$logs/state}
if [ "${INSECURE:-0}" = 1 ]; then
  seed="akka.tcp://distbackprop@127.0.0.1:$port"
  worker_security=(--insecure)
  coordinator_security=(--insecure)
else
  seed="akka.ssl.tcp://distbackprop@127.0.0.1:$port"
  token=$(dotnet "$bin" token create --state-dir "$state" 2>"$logs/token.log" | sed -n 's/^join: .* --join \([^ ]*\).*$/\1/p')
  [ -n "$token" ] || { echo "token create failed, see $logs/token.log" >&2; exit 1; }
  worker_security=(--state-dir "$state" --join "$token")
  coordinator_security=(--state-dir "$state")
fi

pids=()
cleanup() {
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'echo "stopping…"; exit 130' INT TERM

# workers first: they keep retrying the seed address until the coordinator is up
for i in $(seq 1 "$workers"); do
  dotnet "$bin" worker --plain --host 127.0.0.1 --port 0 --seed-nodes "$seed" --threads "$threads" "${worker_security[@]}" \
    >"$logs/worker-$i.log" 2>&1 &
  pids+=("$!")
done
echo "$workers workers started ($threads kernel thread(s) each; logs in $logs)"
# --shards defaults to --min-workers; pass --shards S among the options to override it
dotnet "$bin" coordinator --plain --host 127.0.0.1 --port "$port" --min-workers "$workers" "${coordinator_security[@]}" "$@" &
coord=$!
set +e
wait "$coord"
rc=$?
set -e
echo "coordinator exited with $rc; stopping the workers"
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}"; w=$?
  echo "worker $((i + 1)) exited with $w: $(tail -n 1 "$logs/worker-$((i + 1)).log")"
done
pids=()
exit $rc
