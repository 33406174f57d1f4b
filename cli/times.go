package cli

import (
	"time"

	"github.com/bgtask/bgtask"
)

// The CLI's one rule for times, in every output (tables, status, event
// lines, --json): RFC 3339 in the local time zone with its offset
// ("2026-11-30T14:05:01+01:00"; set TZ=UTC for UTC). Human output shows
// whole seconds; JSON keeps the API's precision.

// formatTime renders t for people: RFC 3339, local zone, whole seconds.
func formatTime(t time.Time) string {
	return t.Local().Format(time.RFC3339)
}

// localInfo returns a copy of info with its times in the local zone, for
// JSON output.
func localInfo(info *bgtask.TaskInfo) *bgtask.TaskInfo {
	c := *info
	c.CreatedAt = c.CreatedAt.Local()
	for _, p := range []**time.Time{&c.StartedAt, &c.FinishedAt, &c.HeartbeatAt} {
		if *p != nil {
			t := (*p).Local()
			*p = &t
		}
	}
	return &c
}

// localList returns a copy of res with its tasks' times in the local zone.
func localList(res *bgtask.ListResult) *bgtask.ListResult {
	c := *res
	c.Tasks = make([]*bgtask.TaskInfo, len(res.Tasks))
	for i, t := range res.Tasks {
		c.Tasks[i] = localInfo(t)
	}
	return &c
}
