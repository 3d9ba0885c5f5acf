#!/usr/bin/env bash
# Download the Apache Kafka jars named in kafka/pom.xml into .cache/kafka/libs.
# Skips the download when the jars are already there. Override the target with
# KAFKA_AUTOSCALER_KAFKA_LIBS.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
libs="${KAFKA_AUTOSCALER_KAFKA_LIBS:-$repo/.cache/kafka/libs}"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$repo/kafka/pom.xml")"

if compgen -G "$libs/kafka_2.13-$version.jar" >/dev/null \
    && compgen -G "$libs/kafka-tools-$version.jar" >/dev/null; then
    echo "Kafka $version jars already in $libs"
    exit 0
fi

mkdir -p "$libs"
mvn -q -f "$repo/kafka/pom.xml" dependency:copy-dependencies -DoutputDirectory="$libs"
echo "Kafka $version jars copied to $libs"
