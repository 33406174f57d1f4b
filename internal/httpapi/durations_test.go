package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/httpapi"
)

// TestSubmitDurationSyntax: a submission's timeout and idle_timeout take
// the documented syntax only. "1e9", "1_000", "+5" and " 5" were accepted
// (the timeout "1e9" became 277777h46m40s); they are 400 bad_request
// naming the field and quoting the input, and store nothing.
func TestSubmitDurationSyntax(t *testing.T) {
	t.Parallel()
	e := setup(t, "")
	for _, field := range []string{"timeout", "idle_timeout"} {
		for _, in := range []string{"1e9", "1_000", "+5", " 5", "5 ", "+5s", " 90s", "0x10", "1.", ".5", "-5", "-5s", "Inf"} {
			body := `{"name":"quick","priority":"idle","` + field + `":` + strconv.Quote(in) + `}`
			status, resp := e.do("POST", "/v1/tasks", body)
			var eb httpapi.ErrorBody
			if err := json.Unmarshal([]byte(resp), &eb); err != nil || status != http.StatusBadRequest || eb.Error.Code != httpapi.CodeBadRequest {
				t.Errorf("%s %q: %d %s, want 400 bad_request", field, in, status, resp)
				continue
			}
			if msg := eb.Error.Message; !strings.Contains(msg, strconv.Quote(field)) || !strings.Contains(msg, strconv.Quote(in)) {
				t.Errorf("%s %q: message %q does not name the field and quote the input", field, in, msg)
			}
		}
	}
	// "" was taken for an absent field while the CLI refuses --timeout "":
	// refused, saying to leave the field out.
	for _, field := range []string{"timeout", "idle_timeout"} {
		status, resp := e.do("POST", "/v1/tasks", `{"name":"quick","priority":"idle","`+field+`":""}`)
		if status != http.StatusBadRequest || !strings.Contains(resp, "leave the field out") || !strings.Contains(resp, field) {
			t.Errorf("%s \"\": %d %s, want 400 naming the field and saying to leave it out", field, status, resp)
		}
	}
	// A refusal says why, as the CLI does: not only "want a duration".
	for in, why := range map[string]string{
		"-5s": "must not be negative", "-5": "must not be negative",
		"99999999999999999999": "too large", "0.0000000001": "under 1ns",
		"1e9": "a duration like 90s",
	} {
		_, resp := e.do("POST", "/v1/tasks", `{"name":"quick","timeout":`+strconv.Quote(in)+`}`)
		if !strings.Contains(resp, why) {
			t.Errorf("timeout %q: %s, want a message saying %q", in, resp, why)
		}
	}
	res, err := e.m.List(context.Background(), nil)
	if err != nil || len(res.Tasks) != 0 {
		t.Fatalf("%d records after refused submissions (%v), want none", len(res.Tasks), err)
	}
	for in, want := range map[string]time.Duration{
		"90": 90 * time.Second, "1.5": 1500 * time.Millisecond, "0.25": 250 * time.Millisecond,
		"90s": 90 * time.Second, "1m30s": 90 * time.Second,
	} {
		status, resp := e.do("POST", "/v1/tasks", `{"name":"quick","timeout":`+strconv.Quote(in)+`}`)
		var info bgtask.TaskInfo
		if err := json.Unmarshal([]byte(resp), &info); err != nil || status != http.StatusCreated || info.Timeout != want {
			t.Errorf("timeout %q: %d %s, want 201 with timeout %v", in, status, resp, want)
		}
	}
}
