package results

import (
	"bufio"
	"os"
	"strings"
)

// cpuModel returns the first "model name" (x86) or "Model"/"Hardware" (ARM)
// line of /proc/cpuinfo, or "".
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	var fallback string
	for s.Scan() {
		key, val, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(key) {
		case "model name":
			return strings.TrimSpace(val)
		case "Model", "Hardware":
			if fallback == "" {
				fallback = strings.TrimSpace(val)
			}
		}
	}
	return fallback
}
