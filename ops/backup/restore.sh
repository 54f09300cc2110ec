#!/bin/sh
# Restore the portal's database with pgBackRest. Run with PostgreSQL STOPPED, in the `backup`
# profile's sidecar, which mounts the data volume:
#   docker compose stop web worker beat postgres
#   docker compose --profile backup run --rm backup restore.sh "2026-12-04 14:05:00+00"
#   docker compose up -d postgres        # replays WAL to the target, then promotes
#   (check, see docs/operations.md), then: docker compose up -d
# Without a target it restores to the end of the archived WAL (the latest state).
# The data directory is overwritten (--delta reuses files that did not change).
set -eu
export PGBACKREST_STANZA=${PGBACKREST_STANZA:-portal}
if [ $# -ge 1 ]; then
  pgbackrest restore --delta --type=time --target="$1" --target-action=promote
else
  pgbackrest restore --delta --target-action=promote
fi
echo "restored; start postgres, wait for it to leave recovery, then run the post-restore checks"
