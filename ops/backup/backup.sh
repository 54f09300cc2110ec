#!/bin/sh
# The `backup` profile's sidecar: creates the stanza (idempotent), checks that WAL archiving
# works, then takes a full backup every Sunday and a differential one every other day, at
# PORTAL_BACKUP_HOUR (UTC, default 02). `backup.sh once [full|diff|incr]` takes one and exits.
set -eu
STANZA=${PGBACKREST_STANZA:-portal}
export PGBACKREST_STANZA="$STANZA"

pgbackrest stanza-create
pgbackrest check

if [ "${1:-}" = "once" ]; then
  exec pgbackrest backup --type="${2:-full}"
fi

# A first full backup at once, so point-in-time recovery is possible from now on.
pgbackrest info --output=json | grep -q '"type":"full"' || pgbackrest backup --type=full

while :; do
  now=$(date -u +%s)
  next=$(date -u -d "$(date -u +%F) ${PORTAL_BACKUP_HOUR:-02}:00" +%s)
  [ "$next" -le "$now" ] && next=$((next + 86400))
  sleep $((next - now))
  if [ "$(date -u +%u)" = 7 ]; then kind=full; else kind=diff; fi
  pgbackrest backup --type="$kind" || echo "pgbackrest backup --type=$kind failed" >&2
  pgbackrest expire || true
done
