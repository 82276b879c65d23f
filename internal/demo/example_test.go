package demo_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"

	"github.com/perfagent/perfagent/internal/demo"
)

func ExampleStart() {
	srv, err := demo.Start(context.Background(), demo.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Shutdown(context.Background())

	resp, err := http.Post(srv.URL()+"/auth/login", "application/json",
		strings.NewReader(`{"username":"demo","password":"demo"}`))
	if err != nil {
		log.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status)
	http.DefaultClient.CloseIdleConnections()
	// Output: 200 OK
}
