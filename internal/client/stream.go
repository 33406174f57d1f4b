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

// DefaultGiveUpAfter is how long Follow tries to resume a dropped stream
// without a successful reconnect before it gives up.
const DefaultGiveUpAfter = 15 * time.Second

// FollowOpts tune Follow. The zero value (or nil) is the default.
type FollowOpts struct {
	// GiveUpAfter bounds how long Follow keeps reconnecting a dropped
	// stream without a reconnect that delivers an event (0:
	// DefaultGiveUpAfter). A successful reconnect starts the bound anew
	// for the next drop.
	GiveUpAfter time.Duration
	// OnReconnect, if set, is called once each time a stream that was
	// delivering events drops and Follow starts reconnecting (not per
	// attempt), with the error that dropped it.
	OnReconnect func(err error)
}

// Follow streams a task's events to fn until the task's stream ends
// (server_close), fn returns false, or ctx ends. An empty id is
// ErrEmptyID; nothing is sent.
//
// A first connection that cannot be made, or that the server answers with
// an error, fails at once, like any other request. A connection that drops
// after it was established is resumed with Last-Event-ID; Follow gives up
// when no reconnect has succeeded for opts.GiveUpAfter, with an error
// saying so. An API error (unknown task, refused token) is returned at
// once: retrying will not help.
func (c *Client) Follow(ctx context.Context, id string, opts *FollowOpts, fn func(StreamEvent) bool) error {
	if err := checkID(id); err != nil {
		return err
	}
	var o FollowOpts
	if opts != nil {
		o = *opts
	}
	if o.GiveUpAfter <= 0 {
		o.GiveUpAfter = DefaultGiveUpAfter
	}
	last := ""
	connected := false      // some connection has delivered an event
	var droppedAt time.Time // when the current outage began (zero: none)
	for {
		delivered := false
		done, err := c.followOnce(ctx, id, &last, func(se StreamEvent) bool {
			delivered = true
			return fn(se)
		})
		if done || ctx.Err() != nil {
			return err
		}
		if _, ok := err.(*Error); ok {
			return err // an API error will not go away by retrying
		}
		if !connected && !delivered {
			return err // the first connection could not be made
		}
		connected = true
		if delivered || droppedAt.IsZero() {
			// A new outage: the stream was delivering events.
			droppedAt = time.Now()
			if o.OnReconnect != nil {
				o.OnReconnect(err)
			}
		} else if time.Since(droppedAt) >= o.GiveUpAfter {
			return fmt.Errorf("event stream dropped and could not be resumed for %v: %w", o.GiveUpAfter, err)
		}
		select {
		case <-time.After(retryDelay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
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
