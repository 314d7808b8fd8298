#!/usr/bin/env bash
# A three-node RabbitMQ cluster on this machine, beside the default broker (which keeps
# 5672/25672 and is never touched): start, stop, status, and the per-node helpers the
# cluster suite (test/cluster/) uses to take a node away and bring it back.
#
#   scripts/cluster.sh start            # three nodes joined into one cluster
#   scripts/cluster.sh status           # cluster_status as seen from node 1
#   scripts/cluster.sh stop             # stop every node and remove its directory
#   scripts/cluster.sh stop-app N       # rabbitmqctl stop_app on node N (1..3)
#   scripts/cluster.sh start-app N      # rabbitmqctl start_app on node N
#   scripts/cluster.sh kill N           # SIGKILL the Erlang VM of node N
#   scripts/cluster.sh boot N           # start node N again (after kill), rejoining
#
# Each node gets its own env file (RABBITMQ_CONF_ENV_FILE: Debian's rabbitmq-env.conf
# pins NODENAME) and its own config (RABBITMQ_CONFIG_FILE), runs as the rabbitmq user
# (which also gives every node the same Erlang cookie) and keeps all of its files under
# $TROUPE_CLUSTER_DIR/<node>. Ports: AMQP $TROUPE_CLUSTER_PORT+N (5680+N by default),
# distribution 25680+N.
set -euo pipefail

BASE="${TROUPE_CLUSTER_DIR:-/tmp/troupe-cluster}"
AMQP_BASE="${TROUPE_CLUSTER_PORT:-5680}"
DIST_BASE="${TROUPE_CLUSTER_DIST_PORT:-25680}"
PREFIX="${TROUPE_CLUSTER_NODE_PREFIX:-troupe-c}"
HOST=localhost
SERVER=/usr/lib/rabbitmq/bin/rabbitmq-server
CTL=rabbitmqctl
NODES=(1 2 3)

node_name() { echo "${PREFIX}$1@${HOST}"; }
node_dir() { echo "${BASE}/${PREFIX}$1"; }
amqp_port() { echo $((AMQP_BASE + $1)); }

ctl() {
  local n=$1
  shift
  "$CTL" -n "$(node_name "$n")" "$@"
}

as_rabbitmq() {
  if [ "$(id -un)" = rabbitmq ]; then
    "$@"
  else
    runuser -u rabbitmq -- "$@"
  fi
}

guard_ports() {
  local amqp=$1 dist=$2
  if [ "$amqp" = 5672 ] || [ "$dist" = 25672 ] || [ "$amqp" = 25672 ] || [ "$dist" = 5672 ]; then
    echo "cluster.sh: port $amqp/$dist belongs to the default broker" >&2
    exit 2
  fi
}

write_node_files() {
  local n=$1 dir
  dir=$(node_dir "$n")
  local amqp dist
  amqp=$(amqp_port "$n")
  dist=$((DIST_BASE + n))
  guard_ports "$amqp" "$dist"
  mkdir -p "$dir/mnesia" "$dir/log"
  cat >"$dir/rabbitmq-env.conf" <<ENV
NODENAME=$(node_name "$n")
NODE_PORT=$amqp
DIST_PORT=$dist
MNESIA_BASE=$dir/mnesia
LOG_BASE=$dir/log
PID_FILE=$dir/node.pid
ENABLED_PLUGINS_FILE=$dir/enabled_plugins
ERL_EPMD_ADDRESS=127.0.0.1
export ERL_FLAGS="-kernel inet_dist_use_interface {127,0,0,1}"
ENV
  cat >"$dir/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$amqp
loopback_users = none
log.file.level = warning
log.console = false
CONF
  echo '[].' >"$dir/enabled_plugins"
  chown -R rabbitmq:rabbitmq "$dir"
}

boot_node() {
  local n=$1 dir
  dir=$(node_dir "$n")
  [ -f "$dir/rabbitmq-env.conf" ] || write_node_files "$n"
  # A killed node leaves its PID file behind: `wait` would read the dead VM's PID.
  rm -f "$dir/node.pid"
  as_rabbitmq env \
    RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf" \
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
    "$SERVER" -detached
  # The PID file appears once the VM runs (written in place: wait until it holds a PID);
  # `wait` returns once the app has booted.
  local tries=0
  until grep -qE '^[0-9]+' "$dir/node.pid" 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -gt 1200 ]; then
      echo "cluster.sh: node $n wrote no PID file in $dir; the end of its logs:" >&2
      tail -n 20 "$dir"/log/*.log >&2 2>/dev/null || echo "(no log)" >&2
      exit 1
    fi
    sleep 0.1
  done
  ctl "$n" wait "$dir/node.pid" --timeout 120 >/dev/null
}

join_node() {
  local n=$1
  ctl "$n" stop_app >/dev/null
  ctl "$n" join_cluster "$(node_name 1)" >/dev/null
  ctl "$n" start_app >/dev/null
}

start() {
  if [ ! -x "$SERVER" ]; then
    echo "cluster.sh: $SERVER not found (RabbitMQ is not installed)" >&2
    exit 3
  fi
  mkdir -p "$BASE"
  chmod 755 "$BASE"
  for n in "${NODES[@]}"; do
    write_node_files "$n"
    boot_node "$n"
  done
  for n in 2 3; do join_node "$n"; done
  ctl 1 await_online_nodes 3 --timeout 120 >/dev/null
  for n in "${NODES[@]}"; do
    echo "amqp://guest:guest@127.0.0.1:$(amqp_port "$n")/ $(node_name "$n")"
  done
}

kill_node() {
  local n=$1 pid
  pid=$(cat "$(node_dir "$n")/node.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
}

stop() {
  for n in "${NODES[@]}"; do
    [ -d "$(node_dir "$n")" ] || continue
    ctl "$n" stop --timeout 30 >/dev/null 2>&1 || true
    kill_node "$n"
  done
  for n in "${NODES[@]}"; do rm -rf "$(node_dir "$n")"; done
  rmdir "$BASE" 2>/dev/null || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) ctl 1 cluster_status ;;
  stop-app) ctl "$2" stop_app ;;
  start-app) ctl "$2" start_app && ctl "$2" await_startup --timeout 120 ;;
  kill) kill_node "$2" ;;
  boot) boot_node "$2" ;;
  *)
    echo "usage: $0 start|stop|status|stop-app N|start-app N|kill N|boot N" >&2
    exit 64
    ;;
esac
