#!/usr/bin/env bash
# Starts a coordinator and N worker processes on 127.0.0.1, waits for training to finish,
# then stops the workers cleanly (SIGTERM → coordinated shutdown). Ctrl+C stops everything.
#   deploy/run-local.sh [WORKERS=2] [extra coordinator options…]
#   e.g. deploy/run-local.sh 3 --epochs 2 --out model.safetensors
set -euo pipefail
cd "$(dirname "$0")/.."
workers=${1:-2}
[ $# -gt 0 ] && shift
port=${PORT:-4053}
logs=${LOGS:-$(mktemp -d)}
dotnet build -c Release src/DistBackprop.Host -v quiet -nologo >/dev/null
bin=src/DistBackprop.Host/bin/Release/net10.0/distbackprop
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

"$bin" coordinator --plain --host 127.0.0.1 --port "$port" --min-workers "$workers" --shards "$workers" "$@" &
coord=$!
pids+=("$coord")
for i in $(seq 1 "$workers"); do
  "$bin" worker --plain --host 127.0.0.1 --port 0 --seed-nodes "akka.tcp://distbackprop@127.0.0.1:$port" \
    >"$logs/worker-$i.log" 2>&1 &
  pids+=("$!")
done
echo "coordinator pid $coord, $workers workers (logs in $logs)"
set +e
wait "$coord"
rc=$?
echo "coordinator exited with $rc"
exit $rc
