# Sourced by the e2e scripts: the binary under test, a temp dir, the processes a script
# started (and only those, by pid, are killed at exit), and ok/fail reporting.
#
#   source "$(dirname "$0")/lib/common.bash"; e2e_init NAME
# A script may define show_logs (called by fail, output to stderr) to print its nodes' logs.

GOSSIP=${GOSSIP:-./dist/gossip}
pids=()

e2e_init() {
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/gossip-e2e-$1.XXXXXX")
  trap e2e_cleanup EXIT
  [ -x "$GOSSIP" ] || fail "GOSSIP=$GOSSIP is not an executable (build: bun build --compile src/main.ts --outfile dist/gossip)"
}

e2e_cleanup() {
  for p in ${pids[@]+"${pids[@]}"}; do
    kill "$p" 2>/dev/null || true
  done
  for p in ${pids[@]+"${pids[@]}"}; do
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$tmp"
}

ok() { echo "ok - $*"; }

fail() {
  echo "not ok - $*" >&2
  if declare -F show_logs >/dev/null; then show_logs >&2; fi
  exit 1
}
