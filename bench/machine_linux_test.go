package bench

import (
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	// user nice system idle iowait irq softirq steal guest guest_nice
	const stat = "cpu  100 5 50 9000 40 3 2 10 7 0\ncpu0 50 2 25 4500 20 1 1 5 3 0\n"
	got, ok := parseProcStat([]byte(stat))
	// Busy: 100+5+50+3+2+10 = 170 ticks of 10ms; idle, iowait and guest
	// (already in user) are not counted.
	if !ok || got != 1700*time.Millisecond {
		t.Errorf("busy %v %v, want 1.7s", got, ok)
	}
	for _, bad := range []string{"", "cpu0 1 2 3\n", "cpu 1 2 x 4 5 6 7 8\n", "intr 1 2 3 4 5 6 7 8 9\n"} {
		if _, ok := parseProcStat([]byte(bad)); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
