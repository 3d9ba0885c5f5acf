#!/usr/bin/env bash
# Download the Apache Kafka jars pinned in local-kafka/pom.xml into .cache/kafka/libs
# (or $KAFKA_AUTOSCALER_KAFKA_LIBS). Does nothing when that version is already there.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
libs="${KAFKA_AUTOSCALER_KAFKA_LIBS:-$repo/.cache/kafka/libs}"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$repo/local-kafka/pom.xml")"

if [[ -f "$libs/kafka_2.13-$version.jar" && -f "$libs/kafka-tools-$version.jar" ]]; then
    echo "Kafka $version jars already in $libs"
    exit 0
fi
command -v mvn >/dev/null || { echo "fetch.sh needs Maven (mvn) on PATH" >&2; exit 1; }

# Jars of another Kafka version would share the classpath: clear them first.
if compgen -G "$libs/kafka_2.13-*.jar" >/dev/null; then
    rm -f "$libs"/*.jar
fi
mkdir -p "$libs"
mvn -B -q -f "$repo/local-kafka/pom.xml" dependency:copy-dependencies -DoutputDirectory="$libs"
echo "Kafka $version jars copied to $libs"
