// Command racelab reproduces the HTTP/1.1 upstream keep-alive race on
// demand and measures it. See `racelab help`.
package main

import (
	"os"

	"github.com/racelab/racelab/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}
