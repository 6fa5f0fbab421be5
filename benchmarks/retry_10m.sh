#!/bin/bash
# A debit and its five retries at 10M members on the embedded default (local Ray, SQLite, a
# local folder), every command timed as a whole process, with the bytes each step added to the
# store. With OLD=<checkout> the same commands also run that checkout's code (through a wrapper
# that takes it before this project's editable install, and PYTHONPATH for the Ray workers),
# so retries that rewrite whole shards and retries that write only what changed are measured
# in one run, interleaved. With WARM=1 a side "warm" runs this checkout's commands against a
# warm Ray (`dev up --warm-ray`, not timed) beside the side "new" that starts Ray per command.
#   benchmarks/retry_10m.sh [REPEAT] [WORKDIR]      (default 2, /tmp/mutualaid-retry-10m)
set -u
REPEAT=${1:-2}
WORK=${2:-/tmp/mutualaid-retry-10m}
HERE="$(cd "$(dirname "$0")/.." && pwd)"
NEW_M="$HERE/.venv/bin/mutualaid"
MEMBERS=${MEMBERS:-10000000}
AID_FEN=$((MEMBERS * 435))  # 4.35 yuan of aid a member: a share of 4.71 yuan with the fee

timed() {  # timed LABEL COMMAND...: one line "SIDE LABEL SECONDS PEAK_RSS BYTES_ADDED"
  local label=$1; shift
  local before after
  before=$(du -sb "$STORE_DIR" | cut -f1)
  /usr/bin/time -f '%e %M' -o "$WORK/time.out" "$@" > "$WORK/last.out" 2>&1
  local rc=$?
  after=$(du -sb "$STORE_DIR" | cut -f1)
  read -r secs rss < "$WORK/time.out"
  printf '%-5s %-22s %7.1f s %7.0f MB rss %12d bytes added rc=%d\n' \
    "$SIDE" "$label" "$secs" "$(echo "$rss / 1024" | bc)" "$((after - before))" "$rc"
  [ "$rc" -eq 0 ] || { tail -3 "$WORK/last.out"; exit 1; }
}

side() {  # side NAME [CHECKOUT | warm]
  SIDE=$1
  M=$NEW_M
  export MUTUALAID_STATE_DIR="$WORK/$SIDE"
  STORE_DIR="$MUTUALAID_STATE_DIR/store"
  rm -rf "$MUTUALAID_STATE_DIR"; mkdir -p "$STORE_DIR"
  (
    if [ "${2:-}" = warm ]; then
      export MUTUALAID_TEMPORAL_ADDRESS=127.0.0.1:7299 MUTUALAID_TEMPORAL_UI_PORT=8299
      "$M" dev up --warm-ray > /dev/null || exit 1
      trap '"$M" dev down > /dev/null' EXIT
    elif [ -n "${2:-}" ]; then
      # Ray puts the driver's working folder first on its workers' path: run from the checkout.
      export PYTHONPATH="$2"; M="$WORK/old-mutualaid"; cd "$2" || exit 1
    fi
    "$M" db upgrade > /dev/null
    timed "population generate" "$M" population generate --members "$MEMBERS" --shards 8 --as-of 2026-10-01
    timed "settle lock" "$M" settle lock --publicity-date 2026-10-07 --json
    timed "settle debit" "$M" settle debit --sharing-date 2026-10-14 --aid-fen $AID_FEN --json
    for attempt in 1 2 3 4 5; do
      timed "settle retry $attempt" "$M" settle retry --sharing-date 2026-10-14 --json
    done
    timed "settle reconcile" "$M" settle reconcile --sharing-date 2026-10-14 --json
    grep -q '"balanced": true' "$WORK/last.out" || { echo "not balanced"; exit 1; }
  )
}

mkdir -p "$WORK"
if [ -n "${OLD:-}" ]; then
  cat > "$WORK/old-mutualaid" <<PY
#!$HERE/.venv/bin/python
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
sys.path.insert(0, "$OLD")
from workers.entry import main
sys.exit(main())
PY
  chmod +x "$WORK/old-mutualaid"
fi
for run in $(seq 1 "$REPEAT"); do
  side new
  [ -n "${OLD:-}" ] && side old "$OLD"
  [ -n "${WARM:-}" ] && side warm warm
done
