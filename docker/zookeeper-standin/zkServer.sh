#!/bin/bash
# `zkServer.sh start-foreground` of the official image, for Debian's jars:
# the server in the foreground with $ZOO_CONF_DIR/zoo.cfg, logging to stderr,
# the heap from ZK_SERVER_HEAP (MB, default 1000) as upstream's zkEnv.sh does.
set -e
case ${1:-} in
start-foreground)
    exec java "-Xmx${ZK_SERVER_HEAP:-1000}m" $SERVER_JVMFLAGS $JVMFLAGS \
        -Dzookeeper.log.dir="${ZOO_LOG_DIR:-/logs}" \
        -XX:+HeapDumpOnOutOfMemoryError -XX:OnOutOfMemoryError='kill -9 %p' \
        -cp "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar" \
        org.apache.zookeeper.server.quorum.QuorumPeerMain "${ZOO_CONF_DIR:-/conf}/zoo.cfg"
    ;;
*)
    echo "usage: zkServer.sh start-foreground (the only mode of this stand-in)" >&2
    exit 2
    ;;
esac
