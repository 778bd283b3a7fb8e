#!/usr/bin/env bash
# End to end: the compiled binary's API as modules see it. One node on ephemeral ports
# (`run` prints them), then notify/announce rounds, a malformed frame, bad usage, SIGTERM.
#
#   GOSSIP=dist/gossip bash test/e2e/api.sh
#
# Prints `ok - ...` per check; stops at the first failure with `not ok - ...` and exit 1.
set -euo pipefail

source "$(dirname "$0")/lib/common.bash"
node_pid=""
show_logs() {
  if [ -s "$tmp/node.err" ]; then
    echo "--- last node log lines:"
    tail -n 20 "$tmp/node.err"
  fi
}
e2e_init api

# --- config and start -------------------------------------------------------------------
"$GOSSIP" config node --p2p 127.0.0.1:0 --api 127.0.0.1:0 --set log_level=debug --out "$tmp/n.ini" >/dev/null \
  || fail "gossip config node exited $?"
ok "config node wrote $tmp/n.ini"

"$GOSSIP" run -c "$tmp/n.ini" >"$tmp/node.out" 2>"$tmp/node.err" &
node_pid=$!
pids+=("$node_pid")

for _ in $(seq 1 100); do # 10 s
  grep -q '^ready ' "$tmp/node.out" && break
  kill -0 "$node_pid" 2>/dev/null || fail "gossip run exited before its ready line"
  sleep 0.1
done
grep -q '^ready ' "$tmp/node.out" || fail "no ready line within 10 s"
ready=$(grep '^ready ' "$tmp/node.out")
[[ $ready =~ ^ready\ api=127\.0\.0\.1:([0-9]+)\ p2p=127\.0\.0\.1:([0-9]+)$ ]] || fail "malformed ready line: $ready"
API="127.0.0.1:${BASH_REMATCH[1]}"
[ "${BASH_REMATCH[1]}" != 0 ] && [ "${BASH_REMATCH[2]}" != 0 ] || fail "ready line shows port 0: $ready"
ok "node ready: $ready"

# --- a notify/announce round --------------------------------------------------------------
# round LABEL HEX: a `notify --count 1` and an `announce` of HEX from another connection; the
# subscription is registered asynchronously, so announce again every 0.5 s until notify printed.
round() {
  local label=$1 data=$2
  local out="$tmp/notify.$label.out" err="$tmp/notify.$label.err"
  "$GOSSIP" notify --type 540 --count 1 --timeout 10 --api "$API" >"$out" 2>"$err" &
  local npid=$!
  pids+=("$npid")
  local code=0 _i
  sleep 0.3
  for _ in $(seq 1 10); do
    "$GOSSIP" announce --type 540 --data "$data" --api "$API" || fail "$label: announce exited $?"
    for _i in 1 2 3 4 5; do
      [ -s "$out" ] && break 2
      sleep 0.1
    done
  done
  wait "$npid" || code=$?
  [ "$code" = 0 ] || fail "$label: notify exited $code: $(cat "$err")"
  [ "$(wc -l <"$out")" = 1 ] || fail "$label: expected one line from notify, got: $(cat "$out")"
  grep -Eq "^\{\"id\":[0-9]+,\"type\":540,\"data\":\"$data\"\}\$" "$out" \
    || fail "$label: unexpected notify output: $(cat "$out")"
  ok "$label: notify printed $(cat "$out")"
}

round "round 1" deadbeef

# --- a malformed frame closes that connection only ------------------------------------------
out=$("$GOSSIP" send --hex '0007 01f5 000000' --timeout 2 --api "$API") || fail "send exited $?"
[ "$out" = '{"kind":"closed"}' ] || fail "send of a 7-byte NOTIFY: expected {\"kind\":\"closed\"}, got: $out"
ok "send of a malformed NOTIFY: the node closed the connection"
grep -q 'protocol violation' "$tmp/node.err" || fail "no protocol violation in the node's log"
ok "the node logged the protocol violation"

round "round 2 (the node still serves)" c0ffee

# --- bad usage ------------------------------------------------------------------------------
code=0
"$GOSSIP" announce --type 540 --data xyz --api "$API" 2>"$tmp/usage.err" || code=$?
[ "$code" = 2 ] || fail "announce --data xyz: expected exit 2, got $code"
grep -q -- '--data' "$tmp/usage.err" || fail "announce --data xyz: message does not name --data: $(cat "$tmp/usage.err")"
ok "announce --data xyz exits 2: $(head -n 1 "$tmp/usage.err")"

# --- the example of `gossip send --help`: a size below 4 ------------------------------------
out=$("$GOSSIP" send --hex 0003 --timeout 2 --api "$API") || fail "send exited $?"
[ "$out" = '{"kind":"closed"}' ] || fail "send --hex 0003: expected {\"kind\":\"closed\"}, got: '$out'"
ok "send --hex 0003 prints {\"kind\":\"closed\"}"

# --- SIGTERM: clean exit 0 ---------------------------------------------------------------------
kill -TERM "$node_pid"
for _ in $(seq 1 100); do # 10 s
  kill -0 "$node_pid" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$node_pid" 2>/dev/null && fail "node still running 10 s after SIGTERM"
code=0
wait "$node_pid" || code=$?
[ "$code" = 0 ] || fail "node exited $code after SIGTERM"
ok "node exits 0 on SIGTERM"
[ "$(wc -l <"$tmp/node.out")" = 1 ] || fail "node stdout should hold only the ready line: $(cat "$tmp/node.out")"
ok "node stdout held only the ready line"
