package client

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bgtask/bgtask"
)

// StreamEvent is one server-sent event of a task stream: either the task's
// state (Kind "state", Task set) or a task event (Event set).
type StreamEvent struct {
	Kind  string
	ID    string
	Task  *bgtask.TaskInfo
	Event *bgtask.Event
}

// maxReconnects bounds how often Follow reconnects after a dropped stream.
const maxReconnects = 100

// Follow streams a task's events to fn until the task's stream ends
// (server_close), fn returns false, or ctx ends. A dropped connection is
// resumed with Last-Event-ID.
func (c *Client) Follow(ctx context.Context, id string, fn func(StreamEvent) bool) error {
	if err := checkUTF8("task ID", id); err != nil {
		return err
	}
	last := ""
	var lastErr error
	for range maxReconnects {
		done, err := c.followOnce(ctx, id, &last, fn)
		if done || ctx.Err() != nil {
			return err
		}
		if _, ok := err.(*Error); ok {
			return err // an API error will not go away by retrying
		}
		lastErr = err
		select {
		case <-time.After(retryDelay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return fmt.Errorf("event stream kept dropping: %w", lastErr)
}

// followOnce reads one connection; done is true when the stream ended
// normally or fn asked to stop.
func (c *Client) followOnce(ctx context.Context, id string, last *string, fn func(StreamEvent) bool) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("/v1/tasks/"+url.PathEscape(id)+"/events", nil), nil)
	if err != nil {
		return true, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if *last != "" {
		req.Header.Set("Last-Event-ID", *last)
	}
	c.auth(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return false, fmt.Errorf("cannot reach server %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return true, decodeError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 2<<20)
	var kind, evID string
	var data strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if kind == "server_close" {
				return true, nil
			}
			if data.Len() > 0 {
				se, err := parseEvent(kind, evID, data.String())
				if err != nil {
					return true, err
				}
				if evID != "" {
					*last = evID
				}
				if !fn(se) {
					return true, nil
				}
			}
			kind, evID = "", ""
			data.Reset()
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			kind = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "id:"):
			evID = strings.TrimSpace(strings.TrimPrefix(line, "id:"))
		case strings.HasPrefix(line, "data:"):
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	if err := sc.Err(); err != nil {
		return false, err
	}
	return false, fmt.Errorf("event stream closed by the server")
}

func parseEvent(kind, id, data string) (StreamEvent, error) {
	se := StreamEvent{Kind: kind, ID: id}
	var err error
	if kind == "state" {
		se.Task = new(bgtask.TaskInfo)
		err = json.Unmarshal([]byte(data), se.Task)
	} else {
		se.Event = new(bgtask.Event)
		err = json.Unmarshal([]byte(data), se.Event)
	}
	if err != nil {
		return se, fmt.Errorf("malformed %s event from server: %w", kind, err)
	}
	return se, nil
}
