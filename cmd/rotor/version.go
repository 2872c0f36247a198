package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// versionInfo is what `rotor version --json` prints.
type versionInfo struct {
	// Version is the module version the binary was built at ("v1.4.0", a
	// pseudo-version from a VCS checkout), or "(devel)".
	Version string `json:"version"`
	// Revision, Time and Modified describe the VCS checkout it was built
	// from, when the build recorded it (go build in a git clone does).
	Revision string `json:"revision"`
	Time     string `json:"time"`
	Modified bool   `json:"modified"`
	// Go is the Go toolchain it was built with; Platform is GOOS/GOARCH.
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// readVersion gathers the version from the build information the Go
// toolchain embeds in every binary.
func readVersion(bi *debug.BuildInfo, ok bool) versionInfo {
	v := versionInfo{Version: "(devel)", Go: runtime.Version()}
	goos, goarch := runtime.GOOS, runtime.GOARCH
	if ok && bi != nil {
		if bi.Main.Version != "" {
			v.Version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			v.Go = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.time":
				v.Time = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			case "GOOS":
				goos = s.Value
			case "GOARCH":
				goarch = s.Value
			}
		}
	}
	v.Platform = goos + "/" + goarch
	return v
}

func (a *app) versionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of this binary",
		Long: `Print the module version and VCS revision this binary was built from, and
the Go toolchain that built it. "(devel)" means a build without a module
version, such as go run or go build outside a tagged checkout.`,
		Example: "  rotor version\n  rotor version --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			read := a.buildInfo
			if read == nil {
				read = debug.ReadBuildInfo
			}
			v := readVersion(read())
			if asJSON {
				return a.printJSON(v)
			}
			fmt.Fprintf(a.stdout, "rotor %s\n", v.Version)
			if v.Revision != "" {
				var about []string
				if v.Time != "" {
					about = append(about, v.Time)
				}
				if v.Modified {
					about = append(about, "modified")
				}
				rev := v.Revision
				if len(about) > 0 {
					rev += " (" + strings.Join(about, ", ") + ")"
				}
				fmt.Fprintf(a.stdout, "  revision  %s\n", rev)
			}
			fmt.Fprintf(a.stdout, "  go        %s %s\n", v.Go, v.Platform)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the version as JSON")
	return cmd
}
