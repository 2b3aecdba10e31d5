#!/bin/sh
# Join the Redis Cluster nodes of REDIS_CLUSTER_NODES (host:port,…: 3 primaries + 3
# replicas) into one cluster, once: compose's `cluster` profile runs it as a one-shot
# service (tests/e2e/test_compose_cluster.py runs this same file on loopback).
# Does nothing when the first node already serves slots (a restart of the profile);
# waits until every slot is served. `redis-cli --cluster create` wants addresses, not
# names, so each host is resolved first (IPv4).
set -eu
: "${REDIS_CLUSTER_NODES:?host:port of every node, comma-separated}"
: "${REDIS_PASSWORD:?the nodes' requirepass}"
export REDISCLI_AUTH="$REDIS_PASSWORD"  # never on the command line (ps)
addresses=""
for node in $(echo "$REDIS_CLUSTER_NODES" | tr ',' ' '); do
  host=${node%:*}
  port=${node##*:}
  ip=$(getent ahostsv4 "$host" | awk 'NR == 1 { print $1 }')
  [ -n "$ip" ] || { echo "cannot resolve $host" >&2; exit 1; }
  addresses="$addresses $ip:$port"
done
first=${addresses# }
first=${first%% *}
info() { redis-cli -h "${first%:*}" -p "${first##*:}" cluster info | tr -d '\r'; }
if info | grep -q '^cluster_slots_assigned:0$'; then
  # shellcheck disable=SC2086 # one argument per node
  redis-cli --cluster create $addresses --cluster-replicas 1 --cluster-yes
else
  echo "the nodes already form a cluster: nothing to do"
fi
tries=0
until info | grep -q '^cluster_state:ok$'; do
  tries=$((tries + 1))
  [ "$tries" -le 60 ] || { echo "the cluster did not reach cluster_state:ok" >&2; exit 1; }
  sleep 1
done
echo "cluster_state:ok"
