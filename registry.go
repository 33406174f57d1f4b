package bgtask

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// Registry holds task definitions by name. It is an explicit value: create
// one with NewRegistry, add definitions at start-up, and hand it to the CLI
// entry point or a Manager. A Registry is safe for concurrent use.
//
// A registry may have fallbacks (see Chain): Lookup searches the registry's
// own definitions first, then each fallback in order.
type Registry struct {
	mu        sync.RWMutex
	defs      map[string]*Definition
	fallbacks []*Registry
	// gen counts Adds, so that users of Definitions can cache its result.
	gen atomic.Uint64
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{defs: make(map[string]*Definition)}
}

// Chain returns a registry that looks names up in regs in order, first match
// wins; it holds no definitions of its own. Nil entries are skipped. The CLI
// uses it for the lookup order application → built-in → test-only.
func Chain(regs ...*Registry) *Registry {
	r := NewRegistry()
	for _, reg := range regs {
		if reg != nil {
			r.fallbacks = append(r.fallbacks, reg)
		}
	}
	return r
}

// Add validates d and adds it. A name already in this registry (not its
// fallbacks) is an error wrapping ErrDuplicateTask; an invalid definition
// is an error wrapping ErrInvalidDefinition.
func (r *Registry) Add(d Definition) error {
	if err := d.validate(); err != nil {
		return err
	}
	d.Tags = slices.Clone(d.Tags)
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.defs[d.Name]; dup {
		return fmt.Errorf("%w %q", ErrDuplicateTask, d.Name)
	}
	r.defs[d.Name] = &d
	r.gen.Add(1)
	return nil
}

// generation changes whenever a definition is added to r or a fallback.
func (r *Registry) generation() uint64 {
	g := r.gen.Load()
	for _, fb := range r.fallbacks {
		g += fb.generation()
	}
	return g
}

// MustAdd is Add for start-up code: it panics on error.
func (r *Registry) MustAdd(d Definition) {
	if err := r.Add(d); err != nil {
		panic(err)
	}
}

// Lookup returns the definition with that name, searching this registry
// first and then its fallbacks in order.
func (r *Registry) Lookup(name string) (*Definition, bool) {
	if r == nil {
		return nil, false
	}
	r.mu.RLock()
	d, ok := r.defs[name]
	r.mu.RUnlock()
	if ok {
		return d, true
	}
	for _, fb := range r.fallbacks {
		if d, ok := fb.Lookup(name); ok {
			return d, true
		}
	}
	return nil, false
}

// Definitions returns every definition Lookup can find, sorted by name; a
// name shadowed by an earlier registry appears once, as Lookup resolves it.
func (r *Registry) Definitions() []*Definition {
	seen := make(map[string]bool)
	var out []*Definition
	r.collect(seen, &out)
	slices.SortFunc(out, func(a, b *Definition) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

func (r *Registry) collect(seen map[string]bool, out *[]*Definition) {
	r.mu.RLock()
	for name, d := range r.defs {
		if !seen[name] {
			seen[name] = true
			*out = append(*out, d)
		}
	}
	r.mu.RUnlock()
	for _, fb := range r.fallbacks {
		fb.collect(seen, out)
	}
}
