package results_test

import (
	"testing"

	"github.com/perfagent/perfagent/results"
)

func TestListNames(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want string
	}{
		{nil, "no benchmarks"},
		{[]string{"a", "b"}, "a, b"},
		{[]string{"1", "2", "3", "4", "5", "6", "7"}, "1, 2, 3, 4, 5, and 2 more"},
	} {
		if got := results.ListNames(tc.in); got != tc.want {
			t.Errorf("ListNames(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
