#!/bin/sh
# Import the portalnews data views, visualizations and the "portalnews coverage"
# dashboard (saved_objects.ndjson beside this script) into Kibana.
#
# Run by the one-shot `setup` service of docker-compose.yml once Kibana is healthy; it
# also works from the host:
#   KIBANA_URL=http://localhost:5601 ELASTIC_PASSWORD=... sh deploy/kibana/import.sh
#
# Idempotent: the objects have fixed ids and are imported with overwrite=true.
# POSIX sh (the curl image has BusyBox, not bash). The password goes to curl through a
# config on standard input, never on its command line.
set -eu

KIBANA_URL=${KIBANA_URL:-http://kibana:5601}
KIBANA_USERNAME=${KIBANA_USERNAME:-elastic}
SAVED_OBJECTS=${SAVED_OBJECTS:-$(dirname "$0")/saved_objects.ndjson}
WAIT_SECONDS=${WAIT_SECONDS:-300}
: "${ELASTIC_PASSWORD:?ELASTIC_PASSWORD is not set}"

log() { printf 'kibana-import: %s\n' "$*" >&2; }

[ -r "$SAVED_OBJECTS" ] || { log "ERROR: cannot read $SAVED_OBJECTS"; exit 1; }

# curl config line with the credentials: backslashes and double quotes escaped.
credentials() {
  printf 'user = "%s:%s"\n' "$KIBANA_USERNAME" \
    "$(printf '%s' "$ELASTIC_PASSWORD" | sed 's/[\\"]/\\&/g')"
}

out=$(mktemp)
trap 'rm -f "$out"' EXIT

# Kibana answers /api/status with 200 once it is available (503 while starting).
log "waiting for $KIBANA_URL"
waited=0
until credentials | curl -fsS -K - -o /dev/null "$KIBANA_URL/api/status" 2>/dev/null; do
  if [ "$waited" -ge "$WAIT_SECONDS" ]; then
    log "ERROR: Kibana at $KIBANA_URL was not available after ${WAIT_SECONDS}s"
    exit 1
  fi
  sleep 5
  waited=$((waited + 5))
done

log "importing $SAVED_OBJECTS"
code=$(credentials | curl -sS -K - -o "$out" -w '%{http_code}' -X POST \
  -H 'kbn-xsrf: true' --form "file=@$SAVED_OBJECTS" \
  "$KIBANA_URL/api/saved_objects/_import?overwrite=true") || code=000
cat "$out"
echo

# The import API answers 200 even when some objects failed: check "success" too.
if [ "$code" = 200 ] && grep -Eq '"success": ?true' "$out"; then
  log "imported; open $KIBANA_URL/app/dashboards and choose \"portalnews coverage\""
  exit 0
fi
log "ERROR: import failed (HTTP $code), see the response above"
exit 1
