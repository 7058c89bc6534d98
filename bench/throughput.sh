#!/usr/bin/env bash
# Figures of issue 4 (not a test): TCP throughput (iperf3, 10 s) between two
# network namespaces joined by a veth pair, through
#   - gonetsh's driver (bench/esptun): ESP tunnel mode, hand-keyed SAs,
#     AES-128-GCM in UDP 4500, then AES-128-CBC + HMAC-SHA1-96 and
#     3DES-CBC + HMAC-SHA1-96, also in UDP 4500;
#   - Debian's packaged wireguard-go (apt: wireguard-go, wireguard-tools);
#   - the current wireguard-go, built from its module
#     (golang.zx2c4.com/wireguard@latest),
# all in the same run, with the ratio of each to the current wireguard-go.
#
#   A: lo 10.1.0.1, route 10.2.0.0/24 into the tunnel device
#      veth 10.99.77.1 ==== 10.99.77.2 veth
#   B: lo 10.2.0.1, route 10.1.0.0/24 into the tunnel device
#
# Usage: bench/throughput.sh OUTDIR   (root; writes OUTDIR/throughput.txt)
# PROFILE=DIR writes a CPU profile of each gonetsh gateway to DIR; ROUNDS
# (3) and SECS (10) size the run; WGVERSION pins the current wireguard-go.
# Only the namespaces and processes this script creates are touched; a trap
# removes them on any exit.
set -euo pipefail
out=${1:-bench/out}
mkdir -p "$out"
out=$(cd "$out" && pwd)
secs=${SECS:-10}
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "throughput: needs root (network namespaces); skipped" | tee "$out/throughput.txt"
  exit 0
fi

tmp=$(mktemp -d)
nsa="gnbench$$a" nsb="gnbench$$b"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del "$nsa" 2>/dev/null || true
  ip netns del "$nsb" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# Tools: iperf3, Debian's wireguard-go and wg, the current wireguard-go.
need=()
command -v iperf3 >/dev/null || need+=(iperf3)
command -v wireguard-go >/dev/null || need+=(wireguard-go)
command -v wg >/dev/null || need+=(wireguard-tools)
if [ ${#need[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
fi
debwg=$(command -v wireguard-go)
debver=$(dpkg-query -W -f='${Version}' wireguard-go 2>/dev/null || echo unknown)
GOBIN="$tmp/bin" go install "golang.zx2c4.com/wireguard@${WGVERSION:-latest}"
curwg="$tmp/bin/wireguard"
curver=$(go version -m "$curwg" | awk '$1=="mod"{print $3}')
go build -o "$tmp/bin/esptun" ./bench/esptun

load0=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$out/throughput-runs.txt" # every run, with TCP retransmits
ip netns add "$nsa"
ip netns add "$nsb"
# A and B run a command in a namespace; background processes are started
# with ip netns exec directly, so that $! is the process itself (ip execs
# it) and kill reaches it.
A() { ip netns exec "$nsa" "$@"; }
B() { ip netns exec "$nsb" "$@"; }
ip link add va netns "$nsa" type veth peer name vb netns "$nsb"
for ns in A B; do
  $ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  $ns ip link set lo up
done
A ip addr add 10.99.77.1/24 dev va
B ip addr add 10.99.77.2/24 dev vb
A ip addr add 10.1.0.1/32 dev lo
B ip addr add 10.2.0.1/32 dev lo
A ip link set va up
B ip link set vb up

# wait_dev NS DEV: wait until the process started in NS made DEV.
wait_dev() {
  for _ in $(seq 100); do
    ip netns exec "$1" ip link show "$2" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "throughput: $2 did not appear in $1" >&2
  return 1
}

# routes DEVA DEVB: route each side's peer prefix into its device.
routes() {
  A ip route replace 10.2.0.0/24 dev "$1" src 10.1.0.1
  B ip route replace 10.1.0.0/24 dev "$2" src 10.2.0.1
}

# iperf: one TCP stream A -> B for $secs s; sets result to the Gbit/s
# received.
iperf() {
  ip netns exec "$nsb" iperf3 -s -1 -B 10.2.0.1 >/dev/null &
  local s=$!
  pids+=("$s")
  sleep 0.3
  A iperf3 -c 10.2.0.1 -B 10.1.0.1 -t "$secs" -J >"$tmp/iperf.json"
  wait "$s" || true
  result=$(python3 -c 'import json,sys; print("%.2f" % (json.load(open(sys.argv[1]))["end"]["sum_received"]["bits_per_second"]/1e9))' "$tmp/iperf.json")
  python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["end"]; print("%-40s %6.2f Gbit/s, %d retransmits" % (sys.argv[2], e["sum_received"]["bits_per_second"]/1e9, e["sum_sent"].get("retransmits", -1)))' \
    "$tmp/iperf.json" "$label" >>"$out/throughput-runs.txt"
}

# stop: end the tunnel processes of the last path.
stop() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}

# gonetsh SUITE [ESPTUN FLAGS]: both gateways with esptun.
gonetsh() {
  label="gonetsh $*"
  local prof_a=() prof_b=()
  if [ -n "${PROFILE:-}" ]; then
    mkdir -p "$PROFILE"
    local tag
    tag=$(echo "$*" | tr -cs 'a-z0-9' '-')
    prof_a=(-cpuprofile "$(cd "$PROFILE" && pwd)/esptun-${tag%-}-a.pprof")
    prof_b=(-cpuprofile "$(cd "$PROFILE" && pwd)/esptun-${tag%-}-b.pprof")
  fi
  ip netns exec "$nsa" "$tmp/bin/esptun" -tun gnt0 -local 10.99.77.1 -peer 10.99.77.2 -net-local 10.1.0.0/24 -net-peer 10.2.0.0/24 \
    -spi-out 0x1001 -spi-in 0x1002 -suite "$@" "${prof_a[@]}" >/dev/null &
  pids+=($!)
  ip netns exec "$nsb" "$tmp/bin/esptun" -tun gnt0 -local 10.99.77.2 -peer 10.99.77.1 -net-local 10.2.0.0/24 -net-peer 10.1.0.0/24 \
    -spi-out 0x1002 -spi-in 0x1001 -suite "$@" "${prof_b[@]}" >/dev/null &
  pids+=($!)
  wait_dev "$nsa" gnt0
  wait_dev "$nsb" gnt0
  routes gnt0 gnt0
  iperf
  stop
}

# wireguard BINARY NAME: both ends with a userspace wireguard-go. The
# interface names differ: the UAPI sockets (/var/run/wireguard/NAME.sock)
# are outside the namespaces.
wireguard() {
  label="wireguard-go $2"
  local ka kb wa="wga$$" wb="wgb$$"
  ka=$(wg genkey) kb=$(wg genkey)
  ip netns exec "$nsa" env WG_PROCESS_FOREGROUND=1 "$1" "$wa" >/dev/null 2>&1 &
  pids+=($!)
  ip netns exec "$nsb" env WG_PROCESS_FOREGROUND=1 "$1" "$wb" >/dev/null 2>&1 &
  pids+=($!)
  wait_dev "$nsa" "$wa"
  wait_dev "$nsb" "$wb"
  sleep 0.2 # the UAPI socket follows the device
  A wg set "$wa" private-key <(echo "$ka") listen-port 51820 \
    peer "$(echo "$kb" | wg pubkey)" allowed-ips 10.2.0.0/24 endpoint 10.99.77.2:51820
  B wg set "$wb" private-key <(echo "$kb") listen-port 51820 \
    peer "$(echo "$ka" | wg pubkey)" allowed-ips 10.1.0.0/24 endpoint 10.99.77.1:51820
  A ip link set "$wa" up
  B ip link set "$wb" up
  routes "$wa" "$wb"
  iperf
  stop
}

# Each path runs ROUNDS times, the paths interleaved, and reports its
# median: the machine may be shared, and a burst of other work then hits
# every path alike.
rounds=${ROUNDS:-3}
declare -A runs
# ONLY=KEY (cur, deb, gcm, gcm1, cbc, tdes) runs one path, to profile it.
for r in $(seq "$rounds"); do
  for key in cur deb gcm gcm1 cbc tdes; do
    [ -n "${ONLY:-}" ] && [ "$key" != "$ONLY" ] && continue
    case $key in
      cur) wireguard "$curwg" "$curver" ;;
      deb) wireguard "$debwg" "$debver" ;;
      gcm) gonetsh gcm128 ;;
      gcm1) gonetsh gcm128 -offload=false ;;
      cbc) gonetsh aes128-sha1 ;;
      tdes) gonetsh 3des-sha1 ;;
    esac
    runs[$key]+="$result "
  done
done
if [ -n "${ONLY:-}" ]; then
  echo "$ONLY: ${runs[$ONLY]}"
  exit 0
fi
median() { printf '%s\n' $1 | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
cur=$(median "${runs[cur]}")

line() { # LABEL KEY [NOTE]
  local m
  m=$(median "${runs[$2]}")
  printf '  %-62s %6s Gbit/s  %5sx  (runs: %s)%s\n' "$1" "$m" \
    "$(python3 -c 'import sys; print("%.2f" % (float(sys.argv[1])/float(sys.argv[2])))' "$m" "$cur")" "${runs[$2]% }" "${3:-}"
}
{
  echo "throughput: one TCP stream (iperf3 -t $secs) namespace to namespace over veth, median of $rounds runs,"
  echo "ratio to the current wireguard-go; $(nproc) CPUs, Linux $(uname -r), load average before: $load0"
  line "wireguard-go $curver (current, from its module)" cur
  line "wireguard-go $debver (Debian package)" deb
  line "gonetsh ESP AES-128-GCM in UDP 4500, tunnel" gcm "  goal >= 1.0x"
  line "gonetsh ESP AES-128-GCM in UDP 4500, without offloads" gcm1 "  one packet per system call"
  line "gonetsh ESP AES-128-CBC + HMAC-SHA1-96 in UDP 4500, tunnel" cbc
  line "gonetsh ESP 3DES-CBC + HMAC-SHA1-96 in UDP 4500, tunnel" tdes
  echo "  load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/throughput.txt"
