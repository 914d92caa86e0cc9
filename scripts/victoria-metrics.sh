#!/usr/bin/env bash
# A local VictoriaMetrics that takes InfluxDB v2 writes, for trying the InfluxDB sink by hand.
#
#   scripts/victoria-metrics.sh start|stop|status|url
#
# Environment: VM_PORT (default 8428), VM_DIR (default runs/victoria-metrics: data, log, pid file),
# VM_BIN (default: victoria-metrics on PATH, else /usr/bin/victoria-metrics; Debian package
# victoria-metrics). Then point the sink at it:
#   TWIN_INFLUX_URL=http://127.0.0.1:8428 TWIN_INFLUX_BUCKET=twin ...
# and read back with  curl 'http://127.0.0.1:8428/api/v1/export?match[]={satellite="OTS-1"}'
set -euo pipefail

PORT="${VM_PORT:-8428}"
DIR="${VM_DIR:-runs/victoria-metrics}"
BIN="${VM_BIN:-$(command -v victoria-metrics || echo /usr/bin/victoria-metrics)}"
PIDFILE="$DIR/victoria-metrics.pid"
URL="http://127.0.0.1:$PORT"

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

case "${1:-}" in
  start)
    if running; then echo "already running (pid $(cat "$PIDFILE")) at $URL"; exit 0; fi
    [ -x "$BIN" ] || { echo "victoria-metrics not found: apt-get install victoria-metrics" >&2; exit 1; }
    mkdir -p "$DIR/data"
    "$BIN" -httpListenAddr="127.0.0.1:$PORT" -storageDataPath="$DIR/data" -retentionPeriod=100y \
      -search.disableCache -search.latencyOffset=0s >>"$DIR/victoria-metrics.log" 2>&1 &
    echo $! >"$PIDFILE"
    for _ in $(seq 100); do
      if curl -fs "$URL/health" >/dev/null 2>&1; then echo "started (pid $(cat "$PIDFILE")) at $URL"; exit 0; fi
      running || break
      sleep 0.1
    done
    echo "victoria-metrics did not start; see $DIR/victoria-metrics.log" >&2
    exit 1
    ;;
  stop)
    if ! running; then echo "not running"; rm -f "$PIDFILE"; exit 0; fi
    pid="$(cat "$PIDFILE")"
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    rm -f "$PIDFILE"
    echo "stopped (pid $pid)"
    ;;
  status)
    if running; then echo "running (pid $(cat "$PIDFILE")) at $URL"; else echo "not running"; exit 3; fi
    ;;
  url)
    echo "$URL"
    ;;
  *)
    echo "usage: $0 start|stop|status|url   (env VM_PORT, VM_DIR, VM_BIN)" >&2
    exit 2
    ;;
esac
