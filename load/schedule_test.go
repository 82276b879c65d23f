package load

import (
	"testing"
	"time"
)

func TestSchedule(t *testing.T) {
	tests := []struct {
		name string
		l    Load
		// due[d] = requests intended strictly before d
		due map[time.Duration]int64
	}{
		{"constant", Load{Rate: 100}, map[time.Duration]int64{0: 0, time.Nanosecond: 1, 10 * time.Millisecond: 1, 10*time.Millisecond + 1: 2, time.Second: 100}},
		{"ramp up", Load{Rate: 300, RampFrom: 100, RampDuration: time.Second}, map[time.Duration]int64{time.Second: 200, 2 * time.Second: 500}},
		{"ramp from zero", Load{Rate: 200, RampDuration: 2 * time.Second}, map[time.Duration]int64{2 * time.Second: 200, 3 * time.Second: 400}},
		{"ramp down", Load{Rate: 100, RampFrom: 300, RampDuration: time.Second}, map[time.Duration]int64{time.Second: 200, 2 * time.Second: 300}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSchedule(tt.l)
			for d, want := range tt.due {
				if got := s.due(d); got != want {
					t.Errorf("due(%v) = %d, want %d", d, got, want)
				}
			}
			// at is non-decreasing and consistent with due.
			prev := time.Duration(-1)
			for i := int64(0); i < 1000; i++ {
				at := s.at(i)
				if at < prev {
					t.Fatalf("at(%d) = %v < at(%d) = %v", i, at, i-1, prev)
				}
				if got := s.due(at + 1); got < i+1 {
					t.Fatalf("due(at(%d)+1ns) = %d, want ≥ %d", i, got, i+1)
				}
				prev = at
			}
		})
	}
}
