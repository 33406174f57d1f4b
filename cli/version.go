package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Version is the version `bgtask version` reports. Set it at link time
// with -ldflags "-X github.com/bgtask/bgtask/cli.Version=v1.2.3"; when
// empty, it comes from the module build information ("(devel)" for a
// build from a checkout).
var Version string

// modulePath is the bgtask module, looked for in the build information.
const modulePath = "github.com/bgtask/bgtask"

func newVersionCmd(inv *invocation) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version (also: --version)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(inv.stdout, inv.versionLine())
			return err
		},
	}
}

// versionLine is what `version` and `--version` print:
//
//	bgtask v1.2.3 (go1.26.0 linux/amd64)
//	myprog v0.4.0 (bgtask v1.2.3, go1.26.0 linux/amd64)
//
// the second for a program with its own Config.Name or Config.Version.
func (inv *invocation) versionLine() string {
	platform := fmt.Sprintf("%s %s/%s", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if inv.name == "bgtask" && inv.version == "" {
		return fmt.Sprintf("bgtask %s (%s)", version(), platform)
	}
	own := inv.version
	if own == "" {
		own = "(unknown)"
	}
	return fmt.Sprintf("%s %s (bgtask %s, %s)", inv.name, own, version(), platform)
}

// version resolves Version: the link-time value, else the bgtask module's
// version from the build information (as main module or dependency).
func version() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	if bi.Main.Path == modulePath {
		return bi.Main.Version
	}
	for _, dep := range bi.Deps {
		if dep.Path == modulePath {
			return dep.Version
		}
	}
	return "(unknown)"
}
