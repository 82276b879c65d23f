// Package loadcompare compares package load's generator with wrk, hey and
// vegeta on loopback: the same minimal Go server (minserver) pinned to CPU
// 0, each generator pinned to CPU 1, 50 connections, closed model, run in
// interleaved rounds so background noise hits every tool alike. It fails
// when the lean client drives less than 0.9× wrk's rate (median of the
// rounds' ratios).
//
// It is not part of `go test ./...`: set PERFAGENT_LOADCOMPARE=1 to run it
// (see run.sh). It needs taskset (util-linux) and wrk (apt-get install -y
// wrk); hey and vegeta are built from the module's tool dependencies.
package loadcompare
