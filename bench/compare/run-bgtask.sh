#!/usr/bin/env bash
# Same-run comparison of bgtask (Manager on the embedded store, durable
# writes), bgtask-redis (Manager on the Redis store, on the asynq-aof Redis)
# with asynq (Redis, no persistence), asynq-aof (Redis, AOF everysec)
# and river (PostgreSQL, synchronous commit). Needs ./setup.sh first.
#
# Two invocations of the harness, as in run.sh's tuned and fast runs:
#   tuned  enqueue (one by one; batch where the system has one), drain C=100,
#          latency, idle; asynq/river poll and cooldown knobs at 10 ms
#   fast   drain, latency, idle with those knobs at 1 ms (their latency floor)
# bgtask has no poll knob, so it is measured in both invocations with the
# same settings: two same-run sets of its figures.
#
# Which bgtask is measured (BGTASK_SRC):
#   head      (default) a clean export of the checkout's HEAD commit (git
#             archive), so uncommitted work in the checkout is not measured
#   worktree  the checkout as it is (the replace ../.. in go.mod)
#
# The machine is shared: before each measurement the harness waits until
# both cores together were less than QUIET_BELOW % busy for one second (at
# most QUIET_WAIT, then it measures anyway and records what it saw:
# pre_busy_pct, quiet_wait_s in the .jsonl).
#
# Every measurement is capped by -timeout (120 s), every child is killed at
# timeout+60 s, every quiet wait at QUIET_WAIT, and all servers are on
# 127.0.0.1. About 12 minutes on a quiet machine, at most ~45 on a busy one.
# Output: results/<run>.log (lines + summary table), results/<run>.jsonl (raw),
#         results/<run>.time (/usr/bin/time -v of the whole run).
# Environment: REPS (3), N (20000), C (100), RUNS ("tuned fast"), SYSTEMS,
#              QUIET_BELOW (20, 0 = no wait), QUIET_WAIT (20s).
set -euo pipefail
cd "$(dirname "$0")"
export PATH=/usr/local/go/bin:$PATH

STATE=/tmp/bench-compare-state
REPS=${REPS:-3}
N=${N:-20000}
C=${C:-100}
RUNS=${RUNS:-tuned fast}
QUIET=(-quiet-below "${QUIET_BELOW:-20}" -quiet-wait "${QUIET_WAIT:-20s}")
SYSTEMS=${SYSTEMS:-bgtask,bgtask-redis,asynq,asynq-aof,river}
ROOT=$(git rev-parse --show-toplevel)
mkdir -p results bin "$STATE"

rev=$(git -C "$ROOT" rev-parse --short HEAD)
case ${BGTASK_SRC:-head} in
head)
  src=$STATE/src-$rev
  if [ ! -d "$src" ]; then
    rm -rf "$src.tmp" && mkdir -p "$src.tmp"
    git -C "$ROOT" archive HEAD | tar -x -C "$src.tmp"
    mv "$src.tmp" "$src"
  fi
  cp go.mod "$STATE/build.mod"
  cp go.sum "$STATE/build.sum"
  go mod edit -replace "github.com/bgtask/bgtask=$src" "$STATE/build.mod"
  go build -modfile "$STATE/build.mod" -o bin/benchanchors .
  measured="commit $rev (clean export of HEAD)"
  ;;
worktree)
  go build -o bin/benchanchors .
  dirty=$(git -C "$ROOT" status --porcelain -- . ':!bench/compare' | wc -l)
  measured="working tree at $rev ($dirty changed paths outside bench/compare)"
  ;;
*)
  echo "BGTASK_SRC must be head or worktree" >&2
  exit 2
  ;;
esac

run() { # name, args...
  local name=$1; shift
  rm -f "results/$name.jsonl"
  {
    echo "=== $name: bin/benchanchors $*"
    echo "# bgtask measured: $measured"
    echo "# $(date -u +%FT%TZ) $(uname -r) nproc=$(nproc) load: $(cut -d' ' -f1-3 /proc/loadavg)"
    # the disk's durable-write floor: 500 sequential 4 KiB O_DSYNC writes
    echo "# disk: 500 x 4 KiB O_DSYNC writes in $STATE: $(dd if=/dev/zero of="$STATE/dsync.test" bs=4k count=500 oflag=dsync 2>&1 | tail -1)"
    rm -f "$STATE/dsync.test"
  } | tee "results/$name.log"
  /usr/bin/time -v -o "results/$name.time" bin/benchanchors -out "results/$name.jsonl" "$@" 2>&1 | tee -a "results/$name.log"
  echo "# end $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "results/$name.log"
}

for r in $RUNS; do
  case $r in
  tuned)
    run bgtask-tuned -profile tuned -systems $SYSTEMS -scenarios enqueue,drain,latency,idle -n "$N" -c "$C" -reps "$REPS" "${QUIET[@]}" ;;
  fast)
    run bgtask-fast -profile fast -systems $SYSTEMS -scenarios drain,latency,idle -n "$N" -c "$C" -reps "$REPS" "${QUIET[@]}" ;;
  *)
    echo "unknown run $r (want tuned, fast)" >&2
    exit 2 ;;
  esac
done
