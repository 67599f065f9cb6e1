// Command strata is the one binary of the Strata event-streaming platform:
// the broker (`strata node`), its admin and client CLI, the object-store
// checker and the load-test harness.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// rootCmd is the top of the command tree. Each subcommand lives in its own
// file and registers itself from an init function, so adding a command never
// touches this file.
var rootCmd = &cobra.Command{
	Use:           "strata",
	Short:         "Strata: a Kafka-compatible event log with a hot local tail and a cold tier in object storage",
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	if err := rootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "strata:", err)
		os.Exit(1)
	}
}
