// Package client talks to a bgtask server's HTTP API for the CLI's client
// commands (submit, status, list, watch, cancel, retry).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/httpapi"
	"github.com/bgtask/bgtask/internal/quote"
)

// Client is an API client. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// Error is an error response of the API.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (HTTP %d %s)", e.Message, e.Status, e.Code)
}

// New returns a client of the server at addr ("http://127.0.0.1:8080" or
// "127.0.0.1:8080"). A trailing "/v1" (the API's prefix, which the client
// adds itself) is dropped: "http://127.0.0.1:8080/v1" is the same server.
func New(addr, token string) (*Client, error) {
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("invalid server address %q: want http://HOST:PORT", addr)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.Path = strings.TrimSuffix(u.Path, "/v1")
	u.RawPath = ""
	return &Client{base: u, token: token, http: &http.Client{CheckRedirect: noRedirects}}, nil
}

// noRedirects makes a redirect an answer, not a new request: the API never
// redirects, so a redirect means the path was not one of its endpoints —
// Go's ServeMux redirects a path with "." or ".." segments to its cleaned
// form, which is another endpoint (the task ID ".." made `watch` follow
// the all-tasks stream, and "." made `status` print the task list as an
// empty record).
func noRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// url returns the URL of path, which is escaped already (IDs go through
// url.PathEscape). Adding it to the unescaped Path used to escape it a
// second time: an ID "../x" reached the server as "..%2Fx".
func (c *Client) url(path string, q url.Values) string {
	u := *c.base
	u.RawPath = c.base.EscapedPath() + path
	if p, err := url.PathUnescape(u.RawPath); err == nil {
		u.Path = p
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// do sends a request and decodes a JSON answer into out (if non-nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path, q), rd)
	if err != nil {
		return err
	}
	if body != nil || method != http.MethodGet {
		// The server refuses writes without it (cross-site protection),
		// bodiless cancel and retry included.
		req.Header.Set("Content-Type", "application/json")
	}
	c.auth(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach server %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return decodeError(resp)
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("malformed answer from server: %w", err)
	}
	return nil
}

func (c *Client) auth(req *http.Request) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
}

func decodeError(resp *http.Response) error {
	var body httpapi.ErrorBody
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode < 400 {
		return &Error{Status: resp.StatusCode, Code: "http", Message: fmt.Sprintf(
			"the server redirected the request to %s, which the API never does: is --server the server's root URL (http://HOST:PORT)?",
			quote.Q(resp.Header.Get("Location")))}
	}
	if json.Unmarshal(data, &body) != nil || body.Error.Code == "" {
		return &Error{Status: resp.StatusCode, Code: "http", Message: strings.TrimSpace(string(data))}
	}
	return &Error{Status: resp.StatusCode, Code: body.Error.Code, Message: body.Error.Message}
}

// ErrEmptyID is the error of a request for a task whose ID is "": its
// path would be no task's. Nothing is sent.
var ErrEmptyID = errors.New("empty task ID")

// checkID refuses an empty task ID or one that is not valid UTF-8, and
// answers "." and ".." (no task's ID; their paths would name other
// endpoints) as the server answers an unknown ID: not found.
func checkID(id string) error {
	if id == "" {
		return ErrEmptyID
	}
	if id == "." || id == ".." {
		return &Error{Status: http.StatusNotFound, Code: httpapi.CodeNotFound, Message: "task not found: " + quote.Q(id)}
	}
	return checkUTF8("task ID", id)
}

// checkUTF8 returns an error naming the first of the named strings that is
// not valid UTF-8. JSON cannot carry such bytes: encoding/json would turn
// them into U+FFFD silently, and a query string would carry bytes the API
// refuses.
func checkUTF8(named ...string) error {
	for i := 0; i+1 < len(named); i += 2 {
		if !utf8.ValidString(named[i+1]) {
			return fmt.Errorf("%s is not valid UTF-8", named[i])
		}
	}
	return nil
}

// Submit submits a task. A name, argument, idempotency key or other field
// that is not valid UTF-8 is an error ("argument 1 is not valid UTF-8",
// counting the arguments after the name from 1); nothing is sent.
func (c *Client) Submit(ctx context.Context, req httpapi.SubmitRequest) (*bgtask.TaskInfo, error) {
	if err := checkUTF8("task name", req.Name, "idempotency key", req.IdempotencyKey,
		"priority", req.Priority, "timeout", req.Timeout, "idle timeout", req.IdleTimeout); err != nil {
		return nil, err
	}
	for i, a := range req.Args {
		if err := checkUTF8(fmt.Sprintf("argument %d", i+1), a); err != nil {
			return nil, err
		}
	}
	var info bgtask.TaskInfo
	return &info, c.do(ctx, http.MethodPost, "/v1/tasks", nil, req, &info)
}

// Get returns a task's record. An empty id is ErrEmptyID; nothing is
// sent.
func (c *Client) Get(ctx context.Context, id string) (*bgtask.TaskInfo, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	var info bgtask.TaskInfo
	return &info, c.do(ctx, http.MethodGet, "/v1/tasks/"+url.PathEscape(id), nil, nil, &info)
}

// List returns a page of tasks. A filter or cursor that is not valid
// UTF-8 is an error; nothing is sent.
func (c *Client) List(ctx context.Context, o bgtask.ListOpts) (*bgtask.ListResult, error) {
	if err := checkUTF8("state", string(o.State), "name", o.Name, "cursor", o.Cursor); err != nil {
		return nil, err
	}
	q := url.Values{}
	if o.State != "" {
		q.Set("state", string(o.State))
	}
	if o.Name != "" {
		q.Set("name", o.Name)
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	var res bgtask.ListResult
	return &res, c.do(ctx, http.MethodGet, "/v1/tasks", q, nil, &res)
}

// Cancel cancels a task. An empty id is ErrEmptyID; nothing is sent.
func (c *Client) Cancel(ctx context.Context, id string) (*bgtask.TaskInfo, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	var info bgtask.TaskInfo
	return &info, c.do(ctx, http.MethodPost, "/v1/tasks/"+url.PathEscape(id)+"/cancel", nil, struct{}{}, &info)
}

// Retry re-runs a parallel task's failed subtasks. An empty id is
// ErrEmptyID; nothing is sent.
func (c *Client) Retry(ctx context.Context, id string) (*bgtask.TaskInfo, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	var info bgtask.TaskInfo
	return &info, c.do(ctx, http.MethodPost, "/v1/tasks/"+url.PathEscape(id)+"/retry", nil, struct{}{}, &info)
}

// Definitions lists the server's task definitions.
func (c *Client) Definitions(ctx context.Context) ([]httpapi.Definition, error) {
	var out struct {
		Definitions []httpapi.Definition `json:"definitions"`
	}
	return out.Definitions, c.do(ctx, http.MethodGet, "/v1/definitions", nil, nil, &out)
}

// Servers returns the live servers sharing the store (GET /v1/servers),
// each with its uptime by the answering server's clock (ServerEntry.Up;
// empty from a server older than the field).
func (c *Client) Servers(ctx context.Context) ([]httpapi.ServerEntry, error) {
	var out httpapi.ServersResponse
	return out.Servers, c.do(ctx, http.MethodGet, "/v1/servers", nil, nil, &out)
}

// IsNotFound reports whether err is the API's answer that a task or task
// name does not exist. A 404 for a path the server has no endpoint for (a
// wrong --server URL, or not a bgtask server) is not one: see
// IsNoEndpoint.
func IsNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound &&
		(e.Code == httpapi.CodeUnknownTask || e.Code == httpapi.CodeNotFound) && !IsNoEndpoint(err)
}

// IsNoEndpoint reports whether err is a 404 for a path that is no API
// endpoint: the server's own "no such endpoint" answer, or a 404 that is
// not the API's JSON (not a bgtask server at that URL).
func IsNoEndpoint(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusNotFound {
		return false
	}
	return (e.Code != httpapi.CodeUnknownTask && e.Code != httpapi.CodeNotFound) ||
		strings.HasPrefix(e.Message, "no such endpoint")
}

// retryDelay is the pause before a stream reconnects.
const retryDelay = 500 * time.Millisecond
