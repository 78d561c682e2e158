#!/usr/bin/env bash
# A test bed of N "hosts" on one Linux machine: one network namespace per host, joined by a bridge that lives in
# a namespace of its own, each host with its own address in the private 10.213.0.0/24 (host i = 10.213.0.(10+i)),
# optional tc tbf rate limits per link, and partitions by taking a host's link down and up. Nothing outside the
# bed's namespaces is touched: no interface, route or address is added to the machine's own namespace, so the
# bed's addresses are reachable only from inside it. Needs root and iproute2 (ip, tc). The end-to-end tests call
# this script (tests/DistBackprop.EndToEnd.Tests/NetBed); a user can start the same N-host cluster by hand:
#   deploy/netns-cluster.sh up BED N [RATE]   create BED-br and BED-h0 … BED-h{N-1}; RATE e.g. 200mbit on every link
#   deploy/netns-cluster.sh addr BED I        the address of host I
#   deploy/netns-cluster.sh exec BED I CMD…   run CMD on host I (ip netns exec BED-hI CMD…)
#   deploy/netns-cluster.sh cut BED I         partition host I (its link down: packets dropped, sockets kept)
#   deploy/netns-cluster.sh heal BED I        its link up again
#   deploy/netns-cluster.sh rate BED I RATE   limit host I's link to RATE both ways (tbf), or "none"
#   deploy/netns-cluster.sh down BED          kill every process in the bed's namespaces, delete them
#   deploy/netns-cluster.sh list [PREFIX]     the beds (namespaces named PREFIX*-br)
#   deploy/netns-cluster.sh check             exit 0 when namespaces can be made here, else say why (exit 3)
# Example (after `dotnet build -c Release src/DistBackprop.Host`):
#   deploy/netns-cluster.sh up demo 3 200mbit
#   dll=$PWD/src/DistBackprop.Host/bin/Release/net10.0/distbackprop.dll
#   deploy/netns-cluster.sh exec demo 0 dotnet $dll coordinator --host 10.213.0.10 --min-workers 2 --plain &
#   for i in 1 2; do deploy/netns-cluster.sh exec demo $i dotnet $dll worker --host 10.213.0.1$i \
#     --seed-nodes akka.tcp://distbackprop@10.213.0.10:4053 --plain & done; wait %1
#   deploy/netns-cluster.sh down demo
# Leaves out: latency and loss (netem is not available on the machines this was written on), and IPv6.
set -euo pipefail

subnet=10.213.0
usage() { sed -n '8,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
die() { echo "netns-cluster: $*" >&2; exit "${2:-1}"; }
valid_bed() { [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$ ]] || die "bed name '$1': letters, digits, . _ - (at most 41)" 2; }
host_ns() { echo "$1-h$2"; }
hosts_of() { ip netns list | awk '{print $1}' | grep -E "^$1-h[0-9]+$" | sort -V || true; }
address() { echo "$subnet.$((10 + $2))"; }

check() {
  [ "$(id -u)" -eq 0 ] || { echo "network namespaces need root (running as uid $(id -u))"; return 3; }
  command -v ip >/dev/null || { echo "iproute2 (ip) is not installed"; return 3; }
  command -v tc >/dev/null || { echo "iproute2 (tc) is not installed"; return 3; }
  local probe="dbp-probe-$$"
  if ! ip netns add "$probe" 2>/dev/null; then echo "cannot create a network namespace here (ip netns add failed)"; return 3; fi
  if ! ip -n "$probe" link add br0 type bridge 2>/dev/null; then ip netns del "$probe"; echo "cannot create a bridge inside a namespace"; return 3; fi
  ip netns del "$probe"
}

set_rate() { # NS DEV RATE|none
  ip netns exec "$1" tc qdisc del dev "$2" root 2>/dev/null || true
  if [ "$3" != none ]; then
    # burst: 1/100 s worth of bytes, at least 64 KiB (the kernel needs a burst of at least one tick's worth)
    [[ $3 =~ ^([0-9]+)(kbit|mbit|gbit)$ ]] || die "rate '$3': a number with kbit, mbit or gbit (e.g. 200mbit), or none" 2
    local per; case ${BASH_REMATCH[2]} in kbit) per=1000 ;; mbit) per=1000000 ;; *) per=1000000000 ;; esac
    local burst=$(( BASH_REMATCH[1] * per / 8 / 100 )); [ "$burst" -lt 65536 ] && burst=65536
    ip netns exec "$1" tc qdisc add dev "$2" root tbf rate "$3" burst "$burst" latency 100ms
  fi
}

up() { # BED N [RATE]
  local bed=$1 n=$2 rate=${3:-none}
  valid_bed "$bed"
  [[ $n =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] || die "host count '$n': 1..200" 2
  ip netns list | awk '{print $1}' | grep -qxF "$bed-br" && die "bed $bed exists already (deploy/netns-cluster.sh down $bed)" 2
  # on any failure, take down what was made
  trap 'down "$bed" >/dev/null 2>&1 || true' ERR
  ip netns add "$bed-br"
  ip -n "$bed-br" link set lo up
  ip -n "$bed-br" link add br0 type bridge
  ip -n "$bed-br" link set br0 up
  for ((i = 0; i < n; i++)); do
    local ns; ns=$(host_ns "$bed" "$i")
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # the pair is made inside the bridge's namespace, its far end moved straight into the host's: the
    # machine's own namespace never sees either end
    ip -n "$bed-br" link add "v$i" type veth peer name eth0 netns "$ns"
    ip -n "$bed-br" link set "v$i" master br0 up
    ip -n "$ns" addr add "$(address "$bed" "$i")/24" dev eth0
    ip -n "$ns" link set eth0 up
    if [ "$rate" != none ]; then
      set_rate "$ns" eth0 "$rate"          # host → bridge
      set_rate "$bed-br" "v$i" "$rate"     # bridge → host
    fi
  done
  trap - ERR
  for ((i = 0; i < n; i++)); do echo "$(host_ns "$bed" "$i") $(address "$bed" "$i")"; done
}

down() { # BED: kill the processes first (a namespace lives on while a process is in it), then delete
  local bed=$1 ns pids
  valid_bed "$bed"
  local all; all="$(hosts_of "$bed") $bed-br"
  for sig in TERM KILL; do
    for ns in $all; do
      pids=$(ip netns pids "$ns" 2>/dev/null || true)
      [ -n "$pids" ] && kill -"$sig" $pids 2>/dev/null || true
    done
    [ $sig = TERM ] && for _ in 1 2 3 4 5 6 7 8 9 10; do
      local left=""; for ns in $all; do left+=$(ip netns pids "$ns" 2>/dev/null || true); done
      [ -z "$left" ] && break; sleep 0.2
    done
  done
  for ns in $all; do ip netns del "$ns" 2>/dev/null || true; done
}

link() { # BED I up|down
  local ns; ns=$(host_ns "$1" "$2")
  ip netns list | awk '{print $1}' | grep -qxF "$ns" || die "no host $2 in bed $1" 2
  ip -n "$1-br" link set "v$2" "$3"
}

[ $# -ge 1 ] || usage
cmd=$1; shift
case $cmd in
  check) check ;;
  up) [ $# -ge 2 ] || usage; up "$@" ;;
  down) [ $# -eq 1 ] || usage; down "$1" ;;
  addr) [ $# -eq 2 ] || usage; valid_bed "$1"; address "$1" "$2" ;;
  exec) [ $# -ge 3 ] || usage; valid_bed "$1"; ns=$(host_ns "$1" "$2"); shift 2; exec ip netns exec "$ns" "$@" ;;
  cut) [ $# -eq 2 ] || usage; valid_bed "$1"; link "$1" "$2" down ;;
  heal) [ $# -eq 2 ] || usage; valid_bed "$1"; link "$1" "$2" up ;;
  rate) [ $# -eq 3 ] || usage; valid_bed "$1"; set_rate "$(host_ns "$1" "$2")" eth0 "$3"; set_rate "$1-br" "v$2" "$3" ;;
  list) ip netns list | awk '{print $1}' | grep -E "^${1:-}.*-br$" | sed 's/-br$//' || true ;;
  *) usage ;;
esac
