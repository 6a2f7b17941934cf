#!/usr/bin/env bash
# One-shot Elasticsearch setup, run by the `es-setup` service of docker-compose.yml
# (idempotent: safe to run again after a restart or a password change).
#
#  1. gives the built-in `kibana_system` user the password Kibana is configured with
#     (KIBANA_SYSTEM_PASSWORD), the standard way to connect Kibana 8 to a secured node;
#  2. creates the least-privilege role `portalnews_writer` (all rights on the
#     `portalnews*` indices and aliases, index templates, ILM and ingest pipelines,
#     cluster monitoring) and the crawler user PORTALNEWS_ES_USERNAME with it, unless
#     that user is the `elastic` superuser or PORTALNEWS_ES_PASSWORD is empty (API-key
#     setups).
#
# Passwords never appear on a command line: curl reads the credentials from a config
# on standard input and the request bodies from a private temporary file.
set -euo pipefail

ES_URL=${ES_URL:-http://elasticsearch:9200}
ES_INDEX_PATTERN=${PORTALNEWS_ES_INDEX_PATTERN:-portalnews*}
: "${ELASTIC_PASSWORD:?ELASTIC_PASSWORD is not set}"
: "${KIBANA_SYSTEM_PASSWORD:?KIBANA_SYSTEM_PASSWORD is not set}"
PORTALNEWS_ES_USERNAME=${PORTALNEWS_ES_USERNAME:-portalnews}
PORTALNEWS_ES_PASSWORD=${PORTALNEWS_ES_PASSWORD:-}

log() { printf 'es-setup: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Refuse the placeholders of deploy/.env.example and passwords Elasticsearch rejects.
check_secret() {  # NAME VALUE
  case $2 in
    change-me*) die "$1 still has the placeholder value of deploy/.env.example: set it in .env" ;;
  esac
  [ "${#2}" -ge 6 ] || die "$1 must have at least 6 characters"
}
check_secret ELASTIC_PASSWORD "$ELASTIC_PASSWORD"
check_secret KIBANA_SYSTEM_PASSWORD "$KIBANA_SYSTEM_PASSWORD"
[ -z "$PORTALNEWS_ES_PASSWORD" ] || check_secret PORTALNEWS_ES_PASSWORD "$PORTALNEWS_ES_PASSWORD"

# JSON string contents: escape backslashes and double quotes.
json_escape() { local s=${1//\\/\\\\}; printf '%s' "${s//\"/\\\"}"; }

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
chmod 700 "$workdir"

# es METHOD PATH [BODY]: call Elasticsearch as `elastic`; prints the response body and
# returns non-zero (after logging the response) when the status is not 2xx.
es() {
  local method=$1 path=$2 body=${3-} code
  local -a data=()
  if [ -n "$body" ]; then
    printf '%s' "$body" >"$workdir/body"
    data=(-H 'Content-Type: application/json' --data-binary "@$workdir/body")
  fi
  : >"$workdir/out"
  code=$(printf 'user = "elastic:%s"\n' "$(json_escape "$ELASTIC_PASSWORD")" |
    curl -sS -K - -o "$workdir/out" -w '%{http_code}' -X "$method" "${data[@]}" "$ES_URL$path") || code=000
  cat "$workdir/out"
  if [ "$code" -ge 200 ] && [ "$code" -lt 300 ]; then
    return 0
  fi
  log "$method $path -> HTTP $code: $(head -c 500 "$workdir/out")"
  return 1
}

log "waiting for $ES_URL"
for attempt in $(seq 1 60); do
  if es GET "/_cluster/health?wait_for_status=yellow&timeout=5s" >/dev/null; then
    break
  fi
  [ "$attempt" -lt 60 ] || die "Elasticsearch at $ES_URL did not answer as elastic (check ELASTIC_PASSWORD)"
  sleep 5
done

log "setting the kibana_system password"
es POST /_security/user/kibana_system/_password \
  "{\"password\":\"$(json_escape "$KIBANA_SYSTEM_PASSWORD")\"}" >/dev/null ||
  die "could not set the kibana_system password"

if [ "$PORTALNEWS_ES_USERNAME" = "elastic" ]; then
  log "the crawler connects as the elastic superuser: no crawler user to create"
elif [ -z "$PORTALNEWS_ES_PASSWORD" ]; then
  log "PORTALNEWS_ES_PASSWORD is empty (API key?): no crawler user to create"
else
  log "creating role portalnews_writer on $ES_INDEX_PATTERN"
  es PUT /_security/role/portalnews_writer "{
    \"cluster\": [\"monitor\", \"manage_index_templates\", \"manage_ilm\", \"manage_pipeline\"],
    \"indices\": [{\"names\": [\"$(json_escape "$ES_INDEX_PATTERN")\"], \"privileges\": [\"all\"]}]
  }" >/dev/null || die "could not create role portalnews_writer"

  log "creating user $PORTALNEWS_ES_USERNAME"
  es PUT "/_security/user/$PORTALNEWS_ES_USERNAME" "{
    \"password\": \"$(json_escape "$PORTALNEWS_ES_PASSWORD")\",
    \"roles\": [\"portalnews_writer\"],
    \"full_name\": \"portalnews crawler\"
  }" >/dev/null || die "could not create user $PORTALNEWS_ES_USERNAME"
fi
log "done"
