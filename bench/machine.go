package bench

import (
	"time"

	"github.com/perfagent/perfagent/results"
)

// machineMeter measures how much CPU the rest of the machine uses over a
// run: the machine's busy time minus the CPU time of the process and of
// its finished children.
type machineMeter struct {
	ok         bool
	wall       time.Time
	busy, self time.Duration
}

func startMachineMeter() machineMeter {
	busy, ok1 := machineBusy()
	self, ok2 := processTreeCPU()
	return machineMeter{ok: ok1 && ok2, wall: time.Now(), busy: busy, self: self}
}

// load returns the machine's load since the meter started, or nil when
// unknown or too short to say (under a second: /proc/stat counts in 10 ms
// ticks).
func (m machineMeter) load() *results.MachineLoad {
	if !m.ok {
		return nil
	}
	busy, ok1 := machineBusy()
	self, ok2 := processTreeCPU()
	wall := time.Since(m.wall)
	if !ok1 || !ok2 || wall < time.Second {
		return nil
	}
	other := (busy - m.busy) - (self - m.self)
	return &results.MachineLoad{OtherCPU: max(0, other.Seconds()/wall.Seconds()), Seconds: wall.Seconds()}
}
