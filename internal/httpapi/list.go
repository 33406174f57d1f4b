package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/bgtask/bgtask"
	"github.com/bgtask/bgtask/internal/quote"
)

// Bounds of one page of GET /v1/tasks.
const (
	// MaxPageBytes bounds the encoded tasks of one page (4 MiB): a page
	// ends before the task that would pass it (it always holds at least
	// one), with next_cursor set, whatever the limit asked for.
	MaxPageBytes = 4 << 20
	// MaxListLimit is the largest limit a page may ask for.
	MaxListLimit = 1000
	// defaultListLimit is the page size without a limit.
	defaultListLimit = 100
	// firstListRead is how many records the first store read of a page
	// fetches; later reads fetch as many as the rest of MaxPageBytes holds
	// at the largest record seen so far, at most maxListRead. A page holds
	// at most about that many records in memory at once.
	firstListRead = 4
	maxListRead   = 256
)

// parseListQuery reads the query of GET /v1/tasks: state, name,
// id_prefix, limit (1 to MaxListLimit) and cursor (a next_cursor, that is
// a task ID); a malformed one is an error, an empty one the default.
// Other parameters and duplicates were refused before (checkQuery).
func parseListQuery(q url.Values) (*bgtask.ListOpts, error) {
	opts := &bgtask.ListOpts{Limit: defaultListLimit}
	if st := q.Get("state"); st != "" {
		state, err := bgtask.ParseState(st)
		if err != nil {
			return nil, err
		}
		opts.State = state
	}
	if n := q.Get("name"); n != "" {
		if !bgtask.ValidName(n) {
			return nil, badRequest(CodeBadRequest, fmt.Sprintf("name: %s is not a task name", quote.Q(n)))
		}
		opts.Name = n
	}
	if p := q.Get("id_prefix"); p != "" {
		if len(p) > 36 {
			return nil, badRequest(CodeBadRequest, "id_prefix: longer than a task ID")
		}
		// Bytes that are no text are refused, as in a name; a prefix no
		// ID starts with finds nothing (the dashboard's search box sends
		// what is typed). Task IDs are lowercase UUIDs: a prefix in
		// capitals is the same prefix.
		if !utf8.ValidString(p) || strings.ContainsFunc(p, unicode.IsControl) {
			return nil, badRequest(CodeBadRequest, fmt.Sprintf("id_prefix: %s is not text", quote.Q(p)))
		}
		p = strings.ToLower(p)
		opts.IDPrefix = p
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxListLimit {
			return nil, badRequest(CodeBadRequest, fmt.Sprintf("limit: want an integer from 1 to %d, got %s", MaxListLimit, quote.Q(l)))
		}
		opts.Limit = n
	}
	if c := q.Get("cursor"); c != "" {
		if !validTaskID(c) {
			return nil, badRequest(CodeBadRequest, fmt.Sprintf("cursor: %s is not a next_cursor of this API", quote.Q(c)))
		}
		opts.Cursor = c
	}
	return opts, nil
}

// pathTaskID returns the request's {id}: a UUID in any of the forms
// uuid.Parse reads (capitals, braces) in the canonical lowercase form the
// manager gives IDs, anything else as it is (not found).
func pathTaskID(r *http.Request) string {
	id := r.PathValue("id")
	if u, err := uuid.Parse(id); err == nil {
		return u.String()
	}
	return id
}

// validTaskID reports whether s is a task ID as the manager makes them:
// a UUID in canonical lowercase form.
func validTaskID(s string) bool {
	u, err := uuid.Parse(s)
	return err == nil && u.String() == s
}

// list serves GET /v1/tasks: {"tasks":[...],"next_cursor":"..."}, newest
// first, written as it is read. The first store read happens before the
// status is sent (its errors get their status); an error of a later read
// aborts the answer, so a client never takes a cut page for a whole one.
func (s *Server) listPage(w http.ResponseWriter, r *http.Request, opts *bgtask.ListOpts) {
	ctx := r.Context()
	limit := opts.Limit
	read := *opts
	read.Limit = min(limit, firstListRead)
	res, err := s.m.List(ctx, &read)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	pw := &pageWriter{w: w}
	pw.write([]byte(`{"tasks":[`))
	next := s.fillPage(ctx, pw, res, read, limit)
	pw.write([]byte(`],"next_cursor":`))
	cur, _ := json.Marshal(next)
	pw.write(cur)
	pw.write([]byte("}\n"))
}

// fillPage writes tasks from res and further store reads until the page
// is full (limit rows or MaxPageBytes) or the list ends, and returns the
// next cursor ("" at the end).
func (s *Server) fillPage(ctx context.Context, pw *pageWriter, res *bgtask.ListResult, read bgtask.ListOpts, limit int) string {
	rows, largest, last := 0, 0, ""
	for {
		for i, t := range res.Tasks {
			data, err := json.Marshal(t)
			if err != nil {
				panic(http.ErrAbortHandler)
			}
			if rows > 0 && pw.n+len(data) > MaxPageBytes {
				return last // the page is full in bytes
			}
			if rows > 0 {
				pw.write([]byte{','})
			}
			pw.write(data)
			rows, largest, last = rows+1, max(largest, len(data)), t.ID
			if rows == limit {
				if i < len(res.Tasks)-1 || res.NextCursor != "" {
					return last
				}
				return ""
			}
		}
		if res.NextCursor == "" {
			return ""
		}
		read.Cursor = res.NextCursor
		read.Limit = min(limit-rows, max(1, min(maxListRead, (MaxPageBytes-pw.n)/max(largest, 1))))
		var err error
		if res, err = s.m.List(ctx, &read); err != nil {
			s.logger.Warn("list page cut by a store error", "err", err)
			panic(http.ErrAbortHandler)
		}
	}
}

// pageWriter counts what it writes; a failed write (client gone) ends the
// handler.
type pageWriter struct {
	w http.ResponseWriter
	n int
}

func (p *pageWriter) write(b []byte) {
	if _, err := p.w.Write(b); err != nil {
		panic(http.ErrAbortHandler)
	}
	p.n += len(b)
}
