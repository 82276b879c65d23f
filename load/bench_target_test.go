package load

import (
	"bufio"
	"fmt"
	"net"
	"os"
)

// benchTargetEnv makes the test binary serve canned responses instead of
// running tests (see TestMain).
const benchTargetEnv = "PERFAGENT_LOAD_BENCH_TARGET"

// serveBenchTarget answers every request with one fixed response on a
// loopback port it prints, until its standard input closes.
func serveBenchTarget() int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(ln.Addr())
	go func() {
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		os.Exit(0)
	}()
	out := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n")
	for {
		c, err := ln.Accept()
		if err != nil {
			return 1
		}
		go func() {
			defer c.Close()
			br := bufio.NewReader(c)
			for {
				for {
					line, err := br.ReadSlice('\n')
					if err != nil {
						return
					}
					if len(line) <= 2 {
						break
					}
				}
				if _, err := c.Write(out); err != nil {
					return
				}
			}
		}()
	}
}
