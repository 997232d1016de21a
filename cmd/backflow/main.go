// Command backflow is a warehouse-centric reverse-ETL job runner between
// HubSpot and Pendo, through a DuckDB file the user owns.
package main

import "os"

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(Main(os.Args[1:], IO{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}, os.LookupEnv))
}
