#!/usr/bin/env bash
# End to end: a 5-node network of the compiled binary (`config network`, `run`), one item
# announced on node1 reaching `notify` subscribers on nodes 2-5; then node3 is stopped with
# SIGTERM and the next item still reaches the subscribers on the live nodes.
#
#   GOSSIP=dist/gossip bash test/e2e/network.sh
#
# Prints `ok - ...` per check; stops at the first failure with `not ok - ...` and exit 1.
set -euo pipefail

source "$(dirname "$0")/lib/common.bash"
N=5
TYPE=540
declare -A node_pid=()
show_logs() {
  for k in $(seq 1 "$N"); do
    if [ -s "$tmp/node$k.err" ]; then
      echo "--- node$k: last log lines"
      grep -v ' DEBUG ' "$tmp/node$k.err" | tail -n 8 || true
    fi
  done
}
e2e_init network

# --- a free port range: p2p P..P+4, api P+1000..P+1004 ---------------------------------------
# Below the kernel's ephemeral range: otherwise an outgoing connection (of these nodes or of
# anything else on the machine) may take one of our ports between the probe and the bind.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
eph_low=32768
if [ -r /proc/sys/net/ipv4/ip_local_port_range ]; then
  read -r eph_low _ </proc/sys/net/ipv4/ip_local_port_range
fi
span=$((eph_low - 1000 - N - 20000))
[ "$span" -ge 100 ] || span=20000 # an unusual ephemeral range: take our chances in 20000-40000
P=""
for _ in $(seq 1 20); do
  candidate=$((20000 + RANDOM % span))
  busy=0
  for k in $(seq 0 $((N - 1))); do
    if port_busy $((candidate + k)) || port_busy $((candidate + 1000 + k)); then
      busy=1
      break
    fi
  done
  if [ "$busy" = 0 ]; then
    P=$candidate
    break
  fi
done
[ -n "$P" ] || fail "no free port range found in 20 tries"
ok "base port $P (p2p $P-$((P + N - 1)), api $((P + 1000))-$((P + 1000 + N - 1)))"

# --- configs and nodes --------------------------------------------------------------------------
"$GOSSIP" config network --nodes "$N" --dir "$tmp" --base-port "$P" --bits 1024 \
  --set pow_bits=8 --set keepalive_ms=300 --set shuffle_interval_ms=500 --set graft_timeout_ms=100 \
  --set log_level=debug >"$tmp/network.out" || fail "gossip config network exited $?"
[ "$(grep -c '^node[0-9]* p2p=' "$tmp/network.out")" = "$N" ] || fail "config network: expected $N node lines, got: $(cat "$tmp/network.out")"
ok "config network wrote $N configs"

for k in $(seq 1 "$N"); do
  "$GOSSIP" run -c "$tmp/node$k.ini" >"$tmp/node$k.out" 2>"$tmp/node$k.err" &
  node_pid[$k]=$!
  pids+=("${node_pid[$k]}")
done

for k in $(seq 1 "$N"); do
  for _ in $(seq 1 100); do # 10 s
    grep -q '^ready ' "$tmp/node$k.out" && break
    kill -0 "${node_pid[$k]}" 2>/dev/null || fail "node$k exited before its ready line"
    sleep 0.1
  done
  want="ready api=127.0.0.1:$((P + 1000 + k - 1)) p2p=127.0.0.1:$((P + k - 1))"
  [ "$(head -n 1 "$tmp/node$k.out")" = "$want" ] || fail "node$k: expected '$want', got '$(cat "$tmp/node$k.out")'"
done
ok "$N nodes ready"

# The size of node K's active view, from its last "neighbour up/down ... active=N" log line.
active_of() {
  local line
  line=$(grep -E ' neighbour (up|down) ' "$tmp/node$1.err" | tail -n 1 || true)
  [[ $line =~ active=([0-9]+) ]] && echo "${BASH_REMATCH[1]}" || echo 0
}

# wait_active WANT NODE...: until each node's active view has exactly WANT peers (20 s).
wait_active() {
  local want=$1 k all
  shift
  for _ in $(seq 1 200); do
    all=1
    for k in "$@"; do
      [ "$(active_of "$k")" = "$want" ] || all=0
    done
    [ "$all" = 1 ] && return 0
    sleep 0.1
  done
  local got=""
  for k in "$@"; do got+=" node$k=$(active_of "$k")"; done
  fail "active views did not all reach $want within 20 s:$got"
}

# With degree = nodes - 1 the overlay settles as a complete graph: every node has 4 neighbours.
wait_active $((N - 1)) $(seq 1 "$N")
ok "overlay formed: every node has $((N - 1)) neighbours"

# --- subscribers and one announce -----------------------------------------------------------------
subscribed() { grep -c " subscribed .*type=$TYPE" "$tmp/node$1.err" || true; }
declare -A notify_pid=()

# subscribe LABEL NODE...: starts `notify --count 1` on each node, waits until each node logged it.
subscribe() {
  local label=$1 k
  shift
  for k in "$@"; do
    local before
    before=$(subscribed "$k")
    "$GOSSIP" notify --type "$TYPE" --count 1 --timeout 20 -c "$tmp/node$k.ini" \
      >"$tmp/notify.$label.$k.out" 2>"$tmp/notify.$label.$k.err" &
    notify_pid[$k]=$!
    pids+=("${notify_pid[$k]}")
    for _ in $(seq 1 100); do # 10 s
      [ "$(subscribed "$k")" -gt "$before" ] && break
      sleep 0.1
    done
    [ "$(subscribed "$k")" -gt "$before" ] || fail "$label: node$k never logged the notify subscription"
  done
}

# expect_item LABEL HEX NODE...: each node's notify exits 0 having printed exactly the item.
expect_item() {
  local label=$1 data=$2 k code
  shift 2
  for k in "$@"; do
    code=0
    wait "${notify_pid[$k]}" || code=$?
    [ "$code" = 0 ] || fail "$label: notify on node$k exited $code: $(cat "$tmp/notify.$label.$k.err")"
    grep -Eq "^\{\"id\":[0-9]+,\"type\":$TYPE,\"data\":\"$data\"\}\$" "$tmp/notify.$label.$k.out" \
      && [ "$(wc -l <"$tmp/notify.$label.$k.out")" = 1 ] \
      || fail "$label: node$k's notify printed: $(cat "$tmp/notify.$label.$k.out")"
  done
  ok "$label: the subscribers on nodes $* got $data"
}

subscribe first 2 3 4 5
"$GOSSIP" announce --type "$TYPE" --data 0badcafe -c "$tmp/node1.ini" || fail "announce exited $?"
expect_item first 0badcafe 2 3 4 5

# --- node3 stops; the rest carry on -------------------------------------------------------------
kill -TERM "${node_pid[3]}"
for _ in $(seq 1 100); do # 10 s
  kill -0 "${node_pid[3]}" 2>/dev/null || break
  sleep 0.1
done
kill -0 "${node_pid[3]}" 2>/dev/null && fail "node3 still running 10 s after SIGTERM"
code=0
wait "${node_pid[3]}" || code=$?
[ "$code" = 0 ] || fail "node3 exited $code after SIGTERM"
ok "node3 stopped (exit 0)"

wait_active $((N - 2)) 1 2 4 5
ok "the live nodes dropped node3: each has $((N - 2)) neighbours"

subscribe second 2 4 5
"$GOSSIP" announce --type "$TYPE" --data c0ffee01 -c "$tmp/node1.ini" || fail "announce exited $?"
expect_item second c0ffee01 2 4 5
