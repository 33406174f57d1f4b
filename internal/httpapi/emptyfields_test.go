package httpapi_test

import (
	"net/http"
	"testing"
)

// An optional member given as "" is refused, as "timeout": "" was and as
// the CLI refuses an empty --priority: "priority": "" ran the task as normal and
// "idempotency_key": "" as if there were no key (a tester).
func TestEmptyOptionalMembersRefused(t *testing.T) {
	t.Parallel()
	e, _ := fullEnv(t, "")
	for _, body := range []string{
		`{"name":"quick","priority":""}`,
		`{"name":"quick","idempotency_key":""}`,
		`{"name":"quick","idempotency_key":"  "}`,
		`{"name":"quick","timeout":""}`,
	} {
		status, resp := e.do("POST", "/v1/tasks", body)
		wantCode(t, body, status, resp, http.StatusBadRequest, "invalid_json")
	}
	if n := e.stored(); n != 0 {
		t.Errorf("%d tasks stored, want none", n)
	}
}
