#!/bin/bash
# The settlement commands at 10M members on the cluster profile (SeaweedFS, PostgreSQL, two Ray
# nodes, steps as Ray Jobs) and on the embedded default, interleaved, REPEAT times each; every
# command timed as a whole process, and the bytes the object store holds after each step.
#   benchmarks/cluster_10m.sh [REPEAT] [WORKDIR]      (default 2, /tmp/mutualaid-cluster-10m)
set -u
REPEAT=${1:-2}
WORK=${2:-/tmp/mutualaid-cluster-10m}
M="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/mutualaid"
MEMBERS=10000000
AID_FEN=4350000000  # 4.35 yuan of aid a member: a share of 4.71 yuan with the fee

timed() {  # timed LABEL COMMAND...: one line "LABEL SECONDS rc=RC"
  local label=$1; shift
  local start end
  start=$(date +%s.%N)
  "$@" > "$WORK/last.out" 2>&1
  local rc=$?
  end=$(date +%s.%N)
  printf '%-10s %-28s %7.1f s rc=%d\n' "$SIDE" "$label" "$(echo "$end - $start" | bc)" "$rc"
  [ "$rc" -eq 0 ] || { tail -3 "$WORK/last.out"; exit 1; }
}

steps() {
  timed "db upgrade" "$M" db upgrade
  timed "population generate" "$M" population generate --members $MEMBERS --shards 8 --as-of 2026-10-01
  stored "population"
  timed "settle lock" "$M" settle lock --publicity-date 2026-10-07 --json
  stored "lock"
  timed "settle debit" "$M" settle debit --sharing-date 2026-10-14 --aid-fen $AID_FEN --json
  stored "debit"
  timed "settle retry" "$M" settle retry --sharing-date 2026-10-14 --json
  stored "retry"
  timed "settle reconcile" "$M" settle reconcile --sharing-date 2026-10-14 --json
  grep -q '"balanced": true' "$WORK/last.out" || { echo "not balanced"; exit 1; }
}

stored() {
  printf '%-10s %-28s %d bytes\n' "$SIDE" "stored after $1" "$(du -sb "$STORE_DIR" | cut -f1)"
}

mkdir -p "$WORK"
for run in $(seq 1 "$REPEAT"); do
  SIDE=cluster
  export MUTUALAID_STATE_DIR="$WORK/cluster"
  rm -rf "$MUTUALAID_STATE_DIR"
  timed "dev up --profile cluster" "$M" dev up --profile cluster --json
  STORE_DIR="$MUTUALAID_STATE_DIR/cluster/s3"
  (set -a; . "$MUTUALAID_STATE_DIR/cluster/profile.env"; set +a; steps)
  "$M" dev down --profile cluster > /dev/null
  SIDE=local
  export MUTUALAID_STATE_DIR="$WORK/local"
  rm -rf "$MUTUALAID_STATE_DIR"
  mkdir -p "$MUTUALAID_STATE_DIR/store"
  STORE_DIR="$MUTUALAID_STATE_DIR/store"
  (steps)
done
