#!/usr/bin/env bash
# Runs the client benchmarks side by side: each round runs every scenario
# for go-redis, then for rueidis, in alternating order, so that both see
# the same background load. Usage: ./run.sh [ROUNDS] > results.txt
set -euo pipefail
cd "$(dirname "$0")"
rounds=${1:-7}
go test -c -o /tmp/redisclients.test .
for r in $(seq 1 "$rounds"); do
	if ((r % 2)); then order="go-redis rueidis"; else order="rueidis go-redis"; fi
	for c in $order; do
		/tmp/redisclients.test -test.run XXX -test.bench "Drain/$c\$" -test.benchtime 20000x
		/tmp/redisclients.test -test.run XXX -test.bench "SingleTask/$c\$" -test.benchtime 5000x
		/tmp/redisclients.test -test.run XXX -test.bench "Wake/$c\$" -test.benchtime 2000x
	done
done | grep '^Benchmark'
