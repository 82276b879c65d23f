// Package calibration measures how often perfagent's regression gate fails
// when nothing changed (A/A) and how often it catches a slowdown known by
// construction (A/B: 5% and 10% more work per operation), through every
// gated path a user takes: the system suite through the CLI (bench,
// baseline, bench), the API suite against a loopback server, `perfagent
// compare` on `go test -bench -count 10` output, and the same-session A/B
// mode (`perfagent bench --against HEAD -- go test ...` on a generated git
// repository whose working tree does more work, TestABMode).
//
// It is not part of `make test`: it takes minutes and its figures, not a
// pass/fail, are the point. Run it on a quiet machine:
//
//	cd integration && PERFAGENT_CALIBRATE=10 PERFAGENT_CALIBRATE_OUT=/tmp/calibration.txt \
//		go test -run . -v -timeout 3h ./calibration/
//
// PERFAGENT_CALIBRATE is K, the pairs per case; PERFAGENT_CALIBRATE_MODE=full
// runs the full system suite instead of --quick. Each case prints "gate
// failed in F of K pairs": for A/A that is the false-alarm rate (the target
// is at most 5%), for A/B the detection rate.
package calibration
