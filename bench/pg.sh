#!/usr/bin/env bash
# The PostgreSQL backend's primitives (PostgresBench in Tests/ArgusServerTests/PostgresDatabaseTests.swift): write and
# read transaction latency, two replicas writing at once (the shared write lock), NOTIFY delivery across replicas.
# Starts a throwaway cluster (scripts/pg-cluster.sh; fsync=off unless PG_CLUSTER_FSYNC=on), prints a table.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --build-tests >/dev/null 2>&1 || { swift build --build-tests; exit 1; }
started=0
if ! scripts/pg-cluster.sh url >/dev/null 2>&1; then started=1; fi
trap '[ $started = 1 ] && scripts/pg-cluster.sh stop' EXIT
ARGUS_TEST_DATABASE_URL=$(scripts/pg-cluster.sh start) ARGUS_PG_BENCH=1 \
  swift test --skip-build --filter PostgresBench 2>&1 | sed -n '/^| PostgreSQL primitive/,/^notify/p'
