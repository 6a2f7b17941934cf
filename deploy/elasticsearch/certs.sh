#!/usr/bin/env bash
# One-shot: the certificates of the three-node cluster in docker-compose.scale.yml, run by
# its `certs` service (as root, in the Elasticsearch image) before any node starts.
#
# Makes a private CA and one certificate per node (ES_NODES, default "es01 es02 es03",
# each valid for the node's name as DNS name and for localhost) with elasticsearch-certutil,
# in PEM form under CERTS_DIR (the `certs` volume): ca/ca.crt, ca/ca.key, NODE/NODE.crt,
# NODE/NODE.key. The nodes use them for transport TLS, which Elasticsearch requires between
# the nodes of a secured cluster. Idempotent: existing certificates are kept; a node added
# to ES_NODES gets one signed by the existing CA. Keys are readable by the elasticsearch
# user (uid 1000) only.
set -euo pipefail

CERTS_DIR=${CERTS_DIR:-/usr/share/elasticsearch/config/certs}
ES_NODES=${ES_NODES:-es01 es02 es03}
CERTUTIL=${CERTUTIL:-/usr/share/elasticsearch/bin/elasticsearch-certutil}
ES_UID=${ES_UID:-1000}

log() { printf 'certs: %s\n' "$*" >&2; }

mkdir -p "$CERTS_DIR"
cd "$CERTS_DIR"
workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT

if [ ! -f ca/ca.crt ] || [ ! -f ca/ca.key ]; then
  log "creating the certificate authority"
  "$CERTUTIL" ca --silent --pem --out "$workdir/ca.zip"
  unzip -oq "$workdir/ca.zip" -d "$CERTS_DIR"
fi

missing=()
for node in $ES_NODES; do
  case $node in
    *[!A-Za-z0-9-]*|'') log "ERROR: node name '$node' is not a plain host name"; exit 1 ;;
  esac
  [ -f "$node/$node.crt" ] && [ -f "$node/$node.key" ] || missing+=("$node")
done

if [ "${#missing[@]}" -gt 0 ]; then
  log "creating certificates for ${missing[*]}"
  {
    echo "instances:"
    for node in "${missing[@]}"; do
      printf '  - name: %s\n    dns: [%s, localhost]\n    ip: [127.0.0.1]\n' "$node" "$node"
    done
  } >"$workdir/instances.yml"
  "$CERTUTIL" cert --silent --pem --in "$workdir/instances.yml" --out "$workdir/certs.zip" \
    --ca-cert ca/ca.crt --ca-key ca/ca.key
  unzip -oq "$workdir/certs.zip" -d "$CERTS_DIR"
else
  log "certificates exist for $ES_NODES"
fi

chown -R "$ES_UID:0" "$CERTS_DIR"
find "$CERTS_DIR" -type d -exec chmod 750 {} +
find "$CERTS_DIR" -type f -name '*.crt' -exec chmod 640 {} +
find "$CERTS_DIR" -type f -name '*.key' -exec chmod 600 {} +
log "done"
