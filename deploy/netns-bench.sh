#!/usr/bin/env bash
# The scaling measurements of docs/scaling.md on the multi-host bed (deploy/netns-cluster.sh; Linux, root): for each
# model and worker count N, a fresh bed of N + 1 hosts with every link limited by tc tbf, a coordinator on host 0 and N
# workers (secure default: the run's own CA and join token), a fixed number of steps of a bench workload on its random
# rows, for each topology of --fan-in (0 = the star, K ≥ 2 = the aggregation tree of `coordinator --fan-in K`; for each
# N the topologies run back to back, so a change of the machine's load hits both alike). Per run it reports the coordinator's received and sent bytes per step (host 0's eth0 counters read inside its
# namespace at the start and end of a window of steps after a warm-up, and over the whole run), the step time (wall
# clock over the window, and the median of the --metrics rows), samples/s and the CPU time per step of the coordinator
# and of the workers (their /proc/PID/stat over the window: what TLS costs when each host has its own cores); one CSV
# row per run to --out.
#   deploy/netns-bench.sh [options] [-- coordinator options…]
#     --models mnist,wide   mnist = 784-256-128-10 (batch 128), wide = 784-1024-1024-10 (batch 256), seed = 400-25-10
#     --workers 2,4,6,8     worker counts, one bed each       --rate 200mbit   every link, each direction (or none)
#     --fan-in 0,2          topologies: 0 = star, K = --fan-in K (K ≥ N is the star again: the coordinator's rule)
#     --security tls        tls = the secure default (mTLS, join token), insecure = every node --insecure (plain TCP);
#                           tls,insecure runs both back to back for each N and topology (the TLS cost on real links)
#     --steps 60            steps in the measured window      --warmup 10      steps before the window opens
#     --batch B             global batch [the workload's]     --shards S       [N]      --threads T   per worker [1]
#     --out FILE.csv        append the rows here [netns-bench.csv]   --keep DIR   keep logs and metrics in DIR
#     --dll PATH            distbackprop.dll [build src/DistBackprop.Host in Release and use it]
#     --bed NAME            the bed's name [dbb-PID-RANDOM]   --timeout SEC    per run [900]
#   Everything after -- goes to the coordinator (e.g. -- --threads 2); --fan-in goes in --fan-in above (or, one K only,
#   after --; not both). The row's fan_in column is empty for the star.
# Example: deploy/netns-bench.sh --models mnist --workers 2,4 --fan-in 0,2 --steps 40 --out /tmp/mnist.csv
#          deploy/netns-bench.sh --models mnist --workers 2 --rate 1gbit --security tls,insecure --out /tmp/tls.csv
# The bed is taken down (every process in it killed) after each run and on any exit. Leaves out: the model and its
# fit (distbackprop scaling fit), latency/loss emulation (no netem here).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
bedsh=$here/netns-cluster.sh
die() { echo "netns-bench: $*" >&2; exit "${2:-1}"; }
usage() { sed -n '10,26p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

models=mnist,wide workers=2,4,6,8 rate=200mbit steps=60 warmup=10 batch="" shards="" threads=1
out=netns-bench.csv keep="" dll="" bed="dbb-$$-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')" timeout=900 fan_ins= security=tls
while [ $# -gt 0 ]; do
  case $1 in
    --models|--workers|--fan-in|--rate|--steps|--warmup|--batch|--shards|--threads|--out|--keep|--dll|--bed|--timeout|--security)
      [ $# -ge 2 ] || die "$1 needs a value" 2
      v=$2; k=${1#--}; shift 2
      case $k in
        models) models=$v ;; workers) workers=$v ;; rate) rate=$v ;; steps) steps=$v ;; warmup) warmup=$v ;;
        batch) batch=$v ;; shards) shards=$v ;; threads) threads=$v ;; out) out=$v ;; keep) keep=$v ;;
        dll) dll=$v ;; bed) bed=$v ;; timeout) timeout=$v ;; fan-in) fan_ins=$v ;; security) security=$v ;;
      esac ;;
    --) shift; break ;;
    -h|--help) usage ;;
    *) die "unknown option '$1' (coordinator options go after --)" 2 ;;
  esac
done
extra=("$@")

positive() { [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge "${3:-1}" ] || die "--$1 '$2': a whole number ≥ ${3:-1}" 2; }
positive steps "$steps" 2; positive warmup "$warmup" 1; positive threads "$threads"; positive timeout "$timeout" 10
[ -z "$batch" ] || positive batch "$batch"
[ -z "$shards" ] || positive shards "$shards"
IFS=, read -r -a worker_list <<< "$workers"
for n in "${worker_list[@]}"; do positive workers "$n"; [ "$n" -le 199 ] || die "--workers '$n': at most 199 (one host each, plus the coordinator's)" 2; done
IFS=, read -r -a model_list <<< "$models"
layers_of() { case $1 in mnist) echo 784,256,128,10 ;; wide) echo 784,1024,1024,10 ;; seed) echo 400,25,10 ;; *) return 1 ;; esac; }
batch_of() { case $1 in mnist) echo 128 ;; wide) echo 256 ;; seed) echo 64 ;; esac; }
activation_of() { case $1 in seed) echo sigmoid ;; *) echo relu ;; esac; }
for m in "${model_list[@]}"; do layers_of "$m" >/dev/null || die "--models '$m': mnist, wide or seed" 2; done
IFS=, read -r -a security_list <<< "$security"
for c in "${security_list[@]}"; do [[ $c = tls || $c = insecure ]] || die "--security '$c': tls or insecure" 2; done
# P = Σ (in + 1)·out over the layers
params_of() { awk -F, '{ p = 0; for (i = 2; i <= NF; i++) p += ($(i-1) + 1) * $i; print p }' <<< "$1"; }
# tc's rate in bytes/s (0 = unlimited), as netns-cluster.sh spells it
case $rate in
  none) rate_bytes=0 ;;
  *) [[ $rate =~ ^([0-9]+)(kbit|mbit|gbit)$ ]] || die "--rate '$rate': a number with kbit, mbit or gbit (e.g. 200mbit), or none" 2
     case ${BASH_REMATCH[2]} in kbit) rate_bytes=$(( BASH_REMATCH[1] * 125 )) ;; mbit) rate_bytes=$(( BASH_REMATCH[1] * 125000 )) ;; *) rate_bytes=$(( BASH_REMATCH[1] * 125000000 )) ;; esac ;;
esac
# the topologies: --fan-in LIST, or one K after -- (taken out of the coordinator's options: run_one adds it)
passed=() given=""
for ((i = 0; i < ${#extra[@]}; i++)); do
  case ${extra[i]} in
    --fan-in) given=${extra[i+1]:-}; i=$((i + 1)) ;;
    --fan-in=*) given=${extra[i]#--fan-in=} ;;
    *) passed+=("${extra[i]}") ;;
  esac
done
extra=("${passed[@]+"${passed[@]}"}")
if [ -n "$given" ]; then
  [ -z "$fan_ins" ] || die "--fan-in given both before and after --: use --fan-in 0,K" 2
  fan_ins=$given
fi
IFS=, read -r -a fan_in_list <<< "${fan_ins:-0}"
for k in "${fan_in_list[@]}"; do
  [[ $k =~ ^[0-9]+$ ]] && [ "$k" -ne 1 ] || die "--fan-in '$k': 0 (the star) or a whole number ≥ 2" 2
done

why=$(bash "$bedsh" check 2>&1) || die "network namespaces are not available here: $why" 3
if [ -z "$dll" ]; then
  echo "netns-bench: building src/DistBackprop.Host (Release)" >&2
  dotnet build -c Release "$root/src/DistBackprop.Host" -v q -nologo >&2 || die "the build failed"
  dll=$root/src/DistBackprop.Host/bin/Release/net10.0/distbackprop.dll
fi
[ -f "$dll" ] || die "--dll '$dll': no such file" 2
dp() { dotnet "$dll" "$@"; }
[[ $bed =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,36}$ ]] || die "--bed '$bed': letters, digits, . _ - (at most 37)" 2

header=model,layers,params,workers,fan_in,shards,batch,threads,rate,rate_bytes_per_s,cores,window_steps,rx_bytes_per_step,tx_bytes_per_step,run_rx_bytes_per_step,run_tx_bytes_per_step,step_ms,metrics_step_ms,samples_per_s,min_workers,star_bytes_per_step,load_avg,coordinator_args,security,coordinator_cpu_ms_per_step,worker_cpu_ms_per_step
if [ -s "$out" ]; then
  [ "$(head -n 1 "$out")" = "$header" ] || die "--out '$out' has another header; use a new file" 2
else
  mkdir -p "$(dirname "$out")"; echo "$header" > "$out"
fi

work=${keep:-$(mktemp -d -t netns-bench-XXXXXX)}
mkdir -p "$work"
bed_up=0
cleanup() {
  [ "$bed_up" = 1 ] && bash "$bedsh" down "$bed" >/dev/null 2>&1 || true
  bed_up=0
  [ -n "$keep" ] || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# host 0's eth0 byte counters → RX, TX: through the namespace (a fork) or, while a process of it runs, its /proc/PID/net/dev
# (no fork: bash builtins only, so a sample takes far less than a step)
counters_ns() { RX=$(ip netns exec "$bed-h0" cat /sys/class/net/eth0/statistics/rx_bytes); TX=$(ip netns exec "$bed-h0" cat /sys/class/net/eth0/statistics/tx_bytes); }
counters_pid() {
  local line name rest
  while IFS= read -r line; do
    line=${line/:/ }; read -r name rest <<< "$line"
    [ "$name" = eth0 ] || continue
    read -r RX _ _ _ _ _ _ _ TX _ <<< "$rest"; return 0
  done < "/proc/$1/net/dev"
  die "no eth0 in /proc/$1/net/dev"
}
# CPU: user + system clock ticks of the processes $@ (bash builtins, no fork)
cpu_ticks() {
  local -a f; local pid
  CPU=0
  for pid in "$@"; do read -r -a f < "/proc/$pid/stat" || die "process $pid is gone"; CPU=$(( CPU + f[13] + f[14] )); done
}
last_step() { local l; l=$(tail -n 1 "$1" 2>/dev/null || true); l=${l%%,*}; [[ $l =~ ^[0-9]+$ ]] && echo "$l" || echo 0; }
# STEP, RX, TX, T (µs), CPU, WCPU (ticks of the coordinator $2 and of the workers $3…) at a step boundary: waits for
# the metrics file $1 to gain a row, then reads process $2's counters and the clock at once, so both ends of a window
# sit at the same point of a step (each step's bytes counted once) and the wall clock spans whole steps
sample() {
  local a b
  a=$(last_step "$1")
  while b=$(last_step "$1"); [ "$b" = "$a" ]; do kill -0 "$2" 2>/dev/null || die "the coordinator exited during a sample"; done
  counters_pid "$2"; T=${EPOCHREALTIME/./}; STEP=$b
  local c=$2; shift 2
  cpu_ticks "$@"; WCPU=$CPU; cpu_ticks "$c"
}
# waits until the metrics file $1 reaches step $2; fails when the coordinator (pid $3) ends first or at the deadline $4 (s)
wait_step() {
  while [ "$(last_step "$1")" -lt "$2" ]; do
    kill -0 "$3" 2>/dev/null || { tail -n 20 "$5" >&2; die "the coordinator exited before step $2 ($5)"; }
    [ "$EPOCHSECONDS" -lt "$4" ] || { tail -n 20 "$5" >&2; die "step $2 not reached within --timeout $timeout s ($5)"; }
    sleep 0.2
  done
}

run_one() { # MODEL N K (0 = star) SECURITY (tls | insecure)
  local model=$1 n=$2 fan_in=${3#0} sec=$4 layers b s p dir token total coordinator i pids=() scheme=akka.ssl.tcp
  local -a wsec=() csec=() args=(${fan_in:+--fan-in "$fan_in"} "${extra[@]+"${extra[@]}"}") # the CSV's coordinator_args
  layers=$(layers_of "$model"); b=${batch:-$(batch_of "$model")}; s=${shards:-$n}; p=$(params_of "$layers")
  dir=$work/$model-n$n${fan_in:+-k$fan_in}-$sec; rm -rf "$dir"; mkdir -p "$dir"
  bash "$bedsh" up "$bed" $((n + 1)) "$rate" > "$dir/bed.txt"; bed_up=1
  local a0; a0=$(bash "$bedsh" addr "$bed" 0)
  if [ "$sec" = insecure ]; then
    scheme=akka.tcp csec=(--insecure)
  else
    token=$(dp token create --state-dir "$dir/state" 2>"$dir/token.log" | sed -n 's/.* --join \([^ ]*\).*/\1/p')
    [ -n "$token" ] || die "token create printed no join line ($dir/token.log)"
    csec=(--state-dir "$dir/state")
  fi
  total=$((warmup + 20 * steps + 1000)) # never reached: the coordinator is stopped (SIGTERM, exit 0) when the window closes
  counters_ns; local rx0=$RX tx0=$TX
  for ((i = 1; i <= n; i++)); do
    if [ "$sec" = insecure ]; then wsec=(--insecure); else wsec=(--state-dir "$dir/w$i" --join "$token"); fi
    bash "$bedsh" exec "$bed" "$i" dotnet "$dll" worker --plain --host "$(bash "$bedsh" addr "$bed" "$i")" \
      --seed-nodes "$scheme://distbackprop@$a0:4053" --threads "$threads" "${wsec[@]}" \
      > "$dir/worker$i.log" 2>&1 &
    pids+=($!); disown $! # no "Killed" notices: they are stopped below, and the bed's down kills any left
  done
  # `netns-cluster.sh exec` execs `ip netns exec`, which execs dotnet: $! is the coordinator's own process id
  bash "$bedsh" exec "$bed" 0 dotnet "$dll" coordinator --plain --host "$a0" --port 4053 "${csec[@]}" \
    --min-workers "$n" --shards "$s" --data "$work/data-$model" --layers "$layers" --activation "$(activation_of "$model")" \
    --loss softmax-ce --optimizer sgd --lr 0.01 --batch "$b" --seed 1 --max-steps "$total" --metrics "$dir/metrics.csv" \
    "${args[@]+"${args[@]}"}" > "$dir/coordinator.log" 2>&1 &
  coordinator=$!
  local deadline=$(( EPOCHSECONDS + timeout ))
  wait_step "$dir/metrics.csv" "$warmup" "$coordinator" "$deadline" "$dir/coordinator.log"
  sample "$dir/metrics.csv" "$coordinator" "${pids[@]}"; local s1=$STEP rx1=$RX tx1=$TX t1=$T c1=$CPU w1=$WCPU
  wait_step "$dir/metrics.csv" $((s1 + steps)) "$coordinator" "$deadline" "$dir/coordinator.log"
  sample "$dir/metrics.csv" "$coordinator" "${pids[@]}"; local s2=$STEP rx2=$RX tx2=$TX t2=$T c2=$CPU w2=$WCPU
  kill -TERM "$coordinator"
  local rc=0; wait "$coordinator" || rc=$?
  [ "$rc" -eq 0 ] || { tail -n 20 "$dir/coordinator.log" >&2; die "the coordinator exited $rc after SIGTERM ($dir/coordinator.log)"; }
  total=$(last_step "$dir/metrics.csv")
  counters_ns; local rx3=$RX tx3=$TX load; read -r load _ < /proc/loadavg
  bash "$bedsh" down "$bed" >/dev/null; bed_up=0 # every worker with it: the next run gets a fresh bed
  # the window's metrics rows: median step time (samples / samples_per_s) and the fewest live workers
  local med minw
  read -r med minw < <(awk -F, -v a="$s1" -v z="$s2" -v b="$b" 'NR > 1 && $1 > a && $1 <= z && $5 > 0 {
      n++; t[n] = 1000 * b / $5; if (n == 1 || $6 + 0 < min) min = $6 + 0 }
    END { for (i = 2; i <= n; i++) { v = t[i]; j = i - 1; while (j > 0 && t[j] > v) { t[j+1] = t[j]; j-- } t[j+1] = v }
          m = n % 2 ? t[(n+1)/2] : (t[n/2] + t[n/2+1]) / 2; printf "%.3f %d\n", m, min }' "$dir/metrics.csv")
  local row
  row=$(awk -v model="$model" -v layers="${layers//,/-}" -v p="$p" -v n="$n" -v k="$fan_in" -v s="$s" -v b="$b" -v th="$threads" \
    -v rate="$rate" -v rb="$rate_bytes" -v cores="$(nproc)" -v s1="$s1" -v s2="$s2" -v rx1="$rx1" -v rx2="$rx2" -v tx1="$tx1" -v tx2="$tx2" \
    -v rx0="$rx0" -v tx0="$tx0" -v rx3="$rx3" -v tx3="$tx3" -v total="$total" -v t1="$t1" -v t2="$t2" -v med="$med" -v minw="$minw" \
    -v load="$load" -v args="${args[*]}" -v sec="$sec" -v c1="$c1" -v c2="$c2" -v w1="$w1" -v w2="$w2" -v hz="$(getconf CLK_TCK)" 'BEGIN {
      w = s2 - s1; ms = (t2 - t1) / 1e3 / w
      printf "%s,%s,%d,%d,%s,%d,%d,%d,%s,%.0f,%d,%d,%.0f,%.0f,%.0f,%.0f,%.3f,%s,%.1f,%d,%.0f,%s,\"%s\",%s,%.3f,%.3f\n",
        model, layers, p, n, k, s, b, th, rate, rb, cores, w, (rx2 - rx1) / w, (tx2 - tx1) / w, (rx3 - rx0) / total, (tx3 - tx0) / total,
        ms, med, b * 1000 / ms, minw, 2 * n * 4 * p, load, args, sec, (c2 - c1) * 1000 / hz / w, (w2 - w1) * 1000 / hz / w / n }')
  echo "$row" >> "$out"
  awk -F, -v r="$row" 'BEGIN { m = split(r, c, ","); n = c[4]; p = c[3]
    printf "netns-bench: %s N=%d %s%s: coordinator rx %.2f MB, tx %.2f MB per step = %.3f × 2·N·4P; step %.1f ms (metrics median %.1f), %.0f samples/s; CPU per step: coordinator %.2f ms, a worker %.2f ms (load %s)\n",
      c[1], n, c[5] == "" ? "star" : "fan-in " c[5], c[m - 2] == "insecure" ? " --insecure" : "", c[13] / 1e6, c[14] / 1e6, (c[13] + c[14]) / (8 * n * p), c[17], c[18], c[19], c[m - 1], c[m], c[22] }' >&2
}

for m in "${model_list[@]}"; do
  dp scaling data --workload "$m" --out "$work/data-$m" >/dev/null
  for n in "${worker_list[@]}"; do
    for k in "${fan_in_list[@]}"; do
      for c in "${security_list[@]}"; do run_one "$m" "$n" "$k" "$c"; done
    done
  done
done
echo "netns-bench: rows appended to $out" >&2
