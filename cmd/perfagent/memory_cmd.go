package main

// memoryOptions are the flags of the memory suite.
type memoryOptions struct {
	command []string // a Go benchmark command after --
}
