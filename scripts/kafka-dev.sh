#!/usr/bin/env bash
# A Kafka cluster on loopback for the tests and for trying shmlog-ship: N
# nodes in KRaft mode (each one broker and controller), from Apache Kafka's
# jars on Maven Central, pinned, fetched once through Maven into
# SHMLOG_KAFKA_HOME (scripts/setup.sh does it).
#
#   scripts/kafka-dev.sh fetch      the jars, when missing (needs Maven and Maven Central)
#   scripts/kafka-dev.sh start N    starts N nodes (or, when KAFKA_DIR holds a cluster, the ones
#                                   not running, on their old ports); the last line is the
#                                   bootstrap list, host:port,host:port,...
#   scripts/kafka-dev.sh stop       stops every node of KAFKA_DIR
#   scripts/kafka-dev.sh pids       one running node's pid a line, node 1 first ("-" for a stopped one)
#
#   KAFKA_DIR          where the cluster's configuration, data and logs go (default: ./kafka-dev)
#   SHMLOG_KAFKA_HOME  where the jars are (default: /opt/shmlog-test/kafka)
#   KAFKA_HEAP         each node's heap (default 320m)
#   KAFKA_JVM_OPTS     more options for each node's JVM, after the defaults (which they override)
#
# Ports are free ones the kernel picks at the first start, so clusters of parallel runs never
# collide. Sized for a 2-core test machine: a small heap, the serial collector, one network and
# two I/O threads per node, and heartbeats that find a killed node within 3 s.
set -euo pipefail

kafka_version=3.9.1
scala_version=2.13
slf4j_version=1.7.36
home=${SHMLOG_KAFKA_HOME:-/opt/shmlog-test/kafka}
libs=$home/$kafka_version/libs
dir=${KAFKA_DIR:-$PWD/kafka-dev}
heap=${KAFKA_HEAP:-320m}
start_timeout=${KAFKA_START_TIMEOUT:-180}

die() { echo "kafka-dev: $*" >&2; exit 1; }

fetch() {
    [ -f "$libs/.complete" ] && return 0
    command -v mvn >/dev/null || die "mvn not found: install Maven (scripts/setup.sh does)"
    command -v java >/dev/null || die "java not found: install a Java 17 runtime (scripts/setup.sh does)"
    local work
    work=$(mktemp -d)
    cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>shmlog.test</groupId><artifactId>kafka-dev</artifactId><version>1</version><packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_$scala_version</artifactId><version>$kafka_version</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>$slf4j_version</version></dependency>
  </dependencies>
</project>
EOF
    echo "kafka-dev: fetching Kafka $kafka_version through Maven into $libs" >&2
    mkdir -p "$home/$kafka_version"
    rm -rf "$libs.new"
    if ! (cd "$work" && mvn -q -B dependency:copy-dependencies -DincludeScope=runtime \
            -DoutputDirectory="$libs.new") >"$work/mvn.log" 2>&1; then
        tail -n 20 "$work/mvn.log" >&2
        rm -rf "$work" "$libs.new"
        die "Maven could not fetch Kafka $kafka_version (above)"
    fi
    rm -rf "$work" "$libs"
    touch "$libs.new/.complete"
    chmod -R a+rX "$home"
    mv "$libs.new" "$libs"
}

# n free loopback TCP ports, distinct.
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

node_pid() { # node -> pid of its running java, or nothing
    local f=$dir/node$1/pid p
    [ -f "$f" ] || return 0
    p=$(cat "$f")
    if [ -n "$p" ] && kill -0 "$p" 2>/dev/null && grep -q "kafka.Kafka" "/proc/$p/cmdline" 2>/dev/null; then
        echo "$p"
    fi
}

nodes() { cat "$dir/nodes" 2>/dev/null || echo 0; }

configure() { # n
    local n=$1 ports rf voters="" i
    read -r -a ports <<<"$(free_ports $((2 * n)))"
    rf=$((n < 3 ? n : 3))
    for ((i = 1; i <= n; i++)); do
        voters+="${voters:+,}$i@127.0.0.1:${ports[2 * i - 1]}"
    done
    mkdir -p "$dir"
    echo "$n" >"$dir/nodes"
    cat >"$dir/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.log.LogCleaner=WARN
EOF
    local cluster
    cluster=$(java -cp "$libs/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
    [ -n "$cluster" ] || die "kafka.tools.StorageTool random-uuid gave no id"
    for ((i = 1; i <= n; i++)); do
        mkdir -p "$dir/node$i/data"
        cat >"$dir/node$i/server.properties" <<EOF
process.roles=broker,controller
node.id=$i
listeners=PLAINTEXT://127.0.0.1:${ports[2 * i - 2]},CONTROLLER://127.0.0.1:${ports[2 * i - 1]}
advertised.listeners=PLAINTEXT://127.0.0.1:${ports[2 * i - 2]}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
controller.quorum.voters=$voters
log.dirs=$dir/node$i/data
num.network.threads=1
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
num.partitions=1
default.replication.factor=$rf
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
broker.heartbeat.interval.ms=500
broker.session.timeout.ms=3000
replica.lag.time.max.ms=5000
auto.create.topics.enable=false
message.max.bytes=$((80 << 20))
replica.fetch.max.bytes=$((80 << 20))
log.segment.bytes=$((64 << 20))
EOF
        java -cp "$libs/*" kafka.tools.StorageTool format -t "$cluster" -c "$dir/node$i/server.properties" \
            >"$dir/node$i/format.log" 2>&1 || { cat "$dir/node$i/format.log" >&2; die "formatting node $i failed"; }
    done
}

start_node() { # node
    local i=$1
    : >"$dir/node$i/server.log"
    # setsid: the node outlives the shell that started it, and a test's kill of its own process group.
    setsid java -Xms"$heap" -Xmx"$heap" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData \
        -Djava.awt.headless=true -Dlog4j.configuration="file:$dir/log4j.properties" ${KAFKA_JVM_OPTS:-} \
        -cp "$libs/*" kafka.Kafka "$dir/node$i/server.properties" \
        >>"$dir/node$i/server.log" 2>&1 </dev/null &
    echo $! >"$dir/node$i/pid"
}

bootstrap() {
    local i list=""
    for ((i = 1; i <= $(nodes); i++)); do
        list+="${list:+,}$(sed -n 's/^advertised.listeners=PLAINTEXT:\/\///p' "$dir/node$i/server.properties")"
    done
    echo "$list"
}

start() {
    local n=${1:-}
    [[ "$n" =~ ^[1-9][0-9]?$ ]] || die "start N: N nodes, 1 to 99 (got '${n}')"
    [ -f "$libs/.complete" ] || fetch
    if [ "$(nodes)" = 0 ]; then
        configure "$n"
    elif [ "$(nodes)" != "$n" ]; then
        die "$dir holds a cluster of $(nodes) nodes, not $n: stop it and remove the directory, or start $(nodes)"
    fi
    local i started=()
    for ((i = 1; i <= n; i++)); do
        if [ -z "$(node_pid "$i")" ]; then
            start_node "$i"
            started+=("$i")
        fi
    done
    local deadline=$((SECONDS + start_timeout))
    for i in "${started[@]}"; do
        until grep -q "Kafka Server started" "$dir/node$i/server.log"; do
            if [ -z "$(node_pid "$i")" ]; then
                tail -n 20 "$dir/node$i/server.log" >&2
                die "node $i exited while starting (its log: $dir/node$i/server.log)"
            fi
            [ $SECONDS -lt $deadline ] || die "node $i not started after ${start_timeout}s (its log: $dir/node$i/server.log)"
            sleep 0.5
        done
    done
    echo "kafka-dev: $n node(s) of Kafka $kafka_version running in $dir" >&2
    bootstrap
}

stop() {
    local i p pids=()
    for ((i = 1; i <= $(nodes); i++)); do
        p=$(node_pid "$i")
        [ -n "$p" ] && { kill "$p" 2>/dev/null || true; pids+=("$p"); }
    done
    local deadline=$((SECONDS + 30))
    for p in "${pids[@]}"; do
        while kill -0 "$p" 2>/dev/null; do
            if [ $SECONDS -ge $deadline ]; then
                kill -KILL "$p" 2>/dev/null || true
                break
            fi
            sleep 0.2
        done
    done
    return 0
}

pids() {
    local i p
    for ((i = 1; i <= $(nodes); i++)); do
        p=$(node_pid "$i")
        echo "${p:--}"
    done
}

case "${1:-}" in
fetch) fetch ;;
start) start "${2:-}" ;;
stop) stop ;;
pids) pids ;;
bootstrap) bootstrap ;;
*) die "usage: kafka-dev.sh fetch | start N | stop | pids | bootstrap" ;;
esac
