package bgtask

import (
	"strings"

	"github.com/google/uuid"
)

// canonicalID returns a task ID as the manager writes them — a UUID in
// lower-case canonical form — when id is a UUID in any form uuid.Parse
// accepts (upper case, in braces, urn:uuid:, 32 bare hex digits), and id
// unchanged otherwise (no task has it: the store finds nothing).
func canonicalID(id string) string {
	if u, err := uuid.Parse(id); err == nil {
		return u.String()
	}
	return id
}

// canonicalIDPrefix returns a prefix of task IDs as they are written (in
// lower case).
func canonicalIDPrefix(p string) string { return strings.ToLower(p) }
