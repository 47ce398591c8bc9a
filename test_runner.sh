#!/usr/bin/env bash
# Performance regression runner (docs/performance.md, "Regression runner").
#
#   ./test_runner.sh                      # current build vs bench/baseline.json, 3 reps
#   ./test_runner.sh --quick              # short loads, 1 rep: about 2½ minutes
#   ./test_runner.sh --baseline main      # build `main` in a temp worktree, measure A B A B …
#   ./test_runner.sh --quick --update-baseline   # record bench/baseline.json
#
# Builds, then per repetition runs the suite of src/loadgen/regression.ts
# (large-room, multi-room, max-throughput through the load generator, a
# fresh server per case pinned to core 0 and the load generator to core 1;
# then the micro-benchmarks and the services' quick cases of
# bench/services/suite.ts) and compares medians against the baseline.
# Writes <out>/<timestamp>.json (every repetition's raw numbers, medians,
# verdicts) and <out>/<timestamp>.txt (the table).
#
# Exit: 0 OK, 3 REVIEW (latency), 4 OPTIMIZE (memory), 5 ROLLBACK
# (throughput), 1 a step failed, 2 bad arguments. Every process it starts is
# stopped and the temporary worktree removed on exit, Ctrl-C included.
set -euo pipefail
# Job control: every background step gets its own process group, so cleanup
# can end it together with the servers and load generators it started.
set -m

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"

usage() {
  cat <<'EOF'
usage: ./test_runner.sh [options]
  --baseline REF              build git REF in a temporary worktree and measure it
                              alternately with the current build (A B A B …);
                              default: compare with bench/baseline.json
  --reps N                    repetitions per build (default 3; 1 with --quick)
  --quick                     5 s per load case instead of 20 s (about 2½ minutes)
  --update-baseline           record the current build as bench/baseline.json
                              (exit 0 whatever the comparison says)
  --threshold-throughput PCT  throughput drop that means ROLLBACK (default 5)
  --threshold-memory PCT      server RSS growth that means OPTIMIZE (default 20)
  --threshold-latency PCT     p99 latency growth that means REVIEW (default 10)
  --out DIR                   where results go (default bench/results)
  --wait-quiet S              before each load case and the micro-benchmarks,
                              wait up to S seconds for the machine to be under
                              8% busy (default 0: do not wait)
  -h, --help                  this text
exit: 0 OK, 3 REVIEW, 4 OPTIMIZE, 5 ROLLBACK, 1 failure, 2 bad arguments
EOF
}

die() {
  echo "test_runner: $*" >&2
  exit 1
}
bad_usage() {
  echo "test_runner: $*" >&2
  usage >&2
  exit 2
}
say() { echo "[runner $(date -u +%H:%M:%S)] $*" >&2; }

BASELINE_REF=""
REPS=""
QUICK=0
UPDATE=0
T_THROUGHPUT=5
T_MEMORY=20
T_LATENCY=10
OUT="bench/results"
WAIT_QUIET=0

while [ $# -gt 0 ]; do
  arg=$1
  shift
  val=""
  case "$arg" in
    --*=*)
      val=${arg#*=}
      arg=${arg%%=*}
      ;;
    --baseline | --reps | --threshold-throughput | --threshold-memory | --threshold-latency | --out | --wait-quiet)
      [ $# -gt 0 ] || bad_usage "$arg needs a value"
      val=$1
      shift
      ;;
  esac
  case "$arg" in
    --baseline) BASELINE_REF=$val ;;
    --reps) REPS=$val ;;
    --threshold-throughput) T_THROUGHPUT=$val ;;
    --threshold-memory) T_MEMORY=$val ;;
    --threshold-latency) T_LATENCY=$val ;;
    --out) OUT=$val ;;
    --wait-quiet) WAIT_QUIET=${val%s} ;;
    --quick) QUICK=1 ;;
    --update-baseline) UPDATE=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) bad_usage "unknown argument: $arg" ;;
  esac
done

[ -n "$REPS" ] || REPS=$([ "$QUICK" = 1 ] && echo 1 || echo 3)
[[ "$REPS" =~ ^[0-9]+$ ]] && [ "$REPS" -ge 1 ] && [ "$REPS" -le 20 ] || bad_usage "--reps takes an integer from 1 to 20"
for t in "$T_THROUGHPUT" "$T_MEMORY" "$T_LATENCY"; do
  [[ "$t" =~ ^[0-9]+([.][0-9]+)?$ ]] && [[ ! "$t" =~ ^0+([.]0+)?$ ]] || bad_usage "thresholds take a percentage > 0, got '$t'"
done
[[ "$WAIT_QUIET" =~ ^[0-9]+$ ]] && [ "$WAIT_QUIET" -le 3600 ] || bad_usage "--wait-quiet takes seconds, 0 to 3600"
[ -z "$BASELINE_REF" ] || [ "${BASELINE_REF#-}" = "$BASELINE_REF" ] || bad_usage "--baseline takes a git ref, got '$BASELINE_REF'"

SHA=""
if [ -n "$BASELINE_REF" ]; then
  command -v git >/dev/null || die "--baseline needs git"
  SHA=$(git rev-parse --verify --quiet "${BASELINE_REF}^{commit}") || bad_usage "--baseline: '$BASELINE_REF' is not a commit here"
fi

# ---------------------------------------------------------------- cleanup

WORK=""
WORKTREE=""
PGIDS=()

cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  set +e
  if [ ${#PGIDS[@]} -gt 0 ]; then
    for g in "${PGIDS[@]}"; do kill -TERM -- "-$g" 2>/dev/null; done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      local alive=0
      for g in "${PGIDS[@]}"; do kill -0 -- "-$g" 2>/dev/null && alive=1; done
      [ "$alive" = 0 ] && break
      sleep 0.5
    done
    for g in "${PGIDS[@]}"; do kill -KILL -- "-$g" 2>/dev/null; done
  fi
  if [ -n "$WORKTREE" ]; then
    # The symlink first: node_modules of the main checkout must not be touched.
    [ -L "$WORKTREE/node_modules" ] && rm -f "$WORKTREE/node_modules"
    git worktree remove --force "$WORKTREE" >/dev/null 2>&1 || rm -rf "$WORKTREE"
    git worktree prune >/dev/null 2>&1
  fi
  [ -n "$WORK" ] && rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# step DIR CMD ARGS…: runs CMD in DIR as a background job in its own
# process group (so cleanup can stop it and everything it started) and
# returns its exit code.
step() {
  local dir=$1
  shift
  (cd "$dir" && exec "$@") </dev/null &
  local pid=$!
  PGIDS+=("$pid")
  local rc=0
  wait "$pid" || rc=$?
  local keep=()
  for g in "${PGIDS[@]}"; do [ "$g" = "$pid" ] || keep+=("$g"); done
  PGIDS=("${keep[@]+"${keep[@]}"}")
  return "$rc"
}

# ---------------------------------------------------------------- build

command -v node >/dev/null || die "node is not on PATH (Node 20 or later is needed)"
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" -ge 20 ] || die "Node 20 or later is needed, found $(node -v)"
command -v taskset >/dev/null || say "taskset not found: server and load generator run unpinned (results are noisier)"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tcpserver-regression.XXXXXX")
STAMP=$(date -u +%Y-%m-%dT%H-%M-%SZ)
MODE_FLAG=(--wait-quiet "$WAIT_QUIET")
[ "$QUICK" = 1 ] && MODE_FLAG+=(--quick)

if [ ! -d node_modules ]; then
  say "no node_modules: npm ci"
  step "$ROOT" npm ci --no-audit --no-fund
elif [ -f node_modules/.package-lock.json ] && [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "warning: package-lock.json is newer than node_modules; run npm ci if the build fails"
fi

say "building the current tree"
step "$ROOT" node_modules/.bin/tsc -p . || die "the current tree does not build (npx tsc -p .)"
# The WASM frame scanner is compiled from its .wat by the second half of `npm run build`.
step "$ROOT" node scripts/build-wasm.mjs || die "the WASM module does not build (node scripts/build-wasm.mjs)"
CLI="$ROOT/dist/src/loadgen/regression-cli.js"
for f in "$CLI" dist/src/main.js dist/src/loadgen/cli.js; do
  [ -f "$f" ] || die "$f is missing after the build"
done

if [ -n "$BASELINE_REF" ]; then
  WORKTREE="$WORK/baseline"
  say "baseline $BASELINE_REF = ${SHA:0:7}: worktree in $WORKTREE"
  git worktree add --detach --quiet "$WORKTREE" "$SHA" || die "git worktree add failed"
  if cmp -s package-lock.json "$WORKTREE/package-lock.json" && [ -d node_modules ]; then
    say "same package-lock.json: reusing node_modules"
    ln -s "$ROOT/node_modules" "$WORKTREE/node_modules"
  else
    say "package-lock.json differs: npm ci in the worktree"
    step "$WORKTREE" npm ci --no-audit --no-fund || die "npm ci failed in the baseline worktree"
  fi
  say "building the baseline"
  if ! step "$WORKTREE" node_modules/.bin/tsc -p .; then
    [ -f "$WORKTREE/dist/src/main.js" ] || die "the baseline $BASELINE_REF does not build"
    say "warning: tsc reported errors for the baseline, but it emitted dist/src/main.js; going on"
  fi
  if [ -f "$WORKTREE/scripts/build-wasm.mjs" ]; then
    step "$WORKTREE" node scripts/build-wasm.mjs || die "the baseline's WASM module does not build"
  fi
  [ -f "$WORKTREE/dist/src/loadgen/cli.js" ] || say "the baseline has no load generator: the current one judges both servers"
fi

# ---------------------------------------------------------------- measure

A_ARGS=()
B_ARGS=()
for ((i = 1; i <= REPS; i++)); do
  if [ -n "$WORKTREE" ]; then
    say "repetition $i/$REPS: A = $BASELINE_REF"
    step "$ROOT" node "$CLI" run --dir "$WORKTREE" --label A --json "$WORK/A-$i.json" --work "$WORK" "${MODE_FLAG[@]}" ||
      die "repetition $i of the baseline failed"
    A_ARGS+=(--a "$WORK/A-$i.json")
  fi
  say "repetition $i/$REPS: B = working tree"
  step "$ROOT" node "$CLI" run --dir "$ROOT" --label B --json "$WORK/B-$i.json" --work "$WORK" "${MODE_FLAG[@]}" ||
    die "repetition $i of the current build failed"
  B_ARGS+=(--b "$WORK/B-$i.json")
done

# ---------------------------------------------------------------- compare

ARGS=(compare "${B_ARGS[@]}" --b-label "working tree" --out "$OUT" --stem "$STAMP"
  --threshold-throughput "$T_THROUGHPUT" --threshold-memory "$T_MEMORY" --threshold-latency "$T_LATENCY")
if [ -n "$WORKTREE" ]; then
  ARGS+=("${A_ARGS[@]}" --a-label "$BASELINE_REF (${SHA:0:7})")
elif [ -f bench/baseline.json ]; then
  ARGS+=(--a bench/baseline.json --a-label bench/baseline.json)
fi
[ "$UPDATE" = 1 ] && ARGS+=(--update-baseline bench/baseline.json)

echo >&2
rc=0
step "$ROOT" node "$CLI" "${ARGS[@]}" || rc=$?
say "done in ${SECONDS} s (exit $rc)"
exit "$rc"
