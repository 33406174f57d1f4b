//go:build !testtasks

package testtasks

import "github.com/bgtask/bgtask"

// Registry returns nil: this binary was built without the testtasks tag.
func Registry() *bgtask.Registry { return nil }
