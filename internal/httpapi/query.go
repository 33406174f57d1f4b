package httpapi

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/bgtask/bgtask/internal/quote"
)

// The query of every routed request is checked here, in one place, before
// its handler runs (see docs/security.md, "Strict input"): each route
// declares the parameters it accepts when it is registered (Server.handle),
// and a query that is malformed (a bad %-escape, a ";" separator), names
// a parameter the route does not declare, or gives one more than once is
// 400, whatever the parameter and the route. Before, an unknown parameter
// was ignored (GET /v1/tasks?limt=5 answered the default page) and a
// duplicate was refused on some parameters and silently served with the
// first value on others (last_event_id). Handlers then read each declared
// parameter with Query().Get: it is there at most once.

// paramAccessToken is the token's query parameter, which a route declares
// only when guard.go's queryTokenAllowed accepts it there (the event
// streams and the dashboard's page and assets; TestQueryTokenRoutes).
const paramAccessToken = "access_token"

// paramsOthersIgnored, in a route's list, lets other parameters through
// unread: the dashboard's page and assets, which a browser may open with
// parameters the page never reads (a link's utm_source, a cache buster);
// answering those with a JSON 400 instead of the page helps no one. The
// listed ones are still refused twice.
const paramsOthersIgnored = "*"

// handle registers a route with the query parameters it accepts.
func (s *Server) handle(pattern string, params []string, h http.Handler) {
	s.params[pattern] = params
	s.mux.Handle(pattern, h)
}

// checkQuery refuses the query of a request routed to pattern unless it is
// well-formed and gives only parameters the route declares, each once.
// Parameters are checked in the order the query gives them.
func (s *Server) checkQuery(r *http.Request, pattern string) error {
	raw := r.URL.RawQuery
	if raw == "" {
		return nil
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return badRequest(CodeBadRequest, "malformed query: "+quote.Clip(err.Error()))
	}
	accepted := s.params[pattern]
	for rest := raw; rest != ""; {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		if pair == "" {
			continue
		}
		name, _, _ := strings.Cut(pair, "=")
		name, _ = url.QueryUnescape(name) // ParseQuery did: cannot fail
		if !slices.Contains(accepted, name) {
			if slices.Contains(accepted, paramsOthersIgnored) {
				continue
			}
			return unknownParam(r.Method, pattern, name, accepted)
		}
		if n := len(q[name]); n > 1 {
			return badRequest(CodeBadRequest, fmt.Sprintf("%s: given %d times", name, n))
		}
	}
	return nil
}

// unknownParam is the error of a parameter the route does not accept: its
// name, a suggestion when it is close to one the route accepts, and the
// ones it accepts.
func unknownParam(method, pattern, name string, accepted []string) error {
	_, path, _ := strings.Cut(pattern, " ")
	route := method + " " + strings.TrimSuffix(path, "{$}")
	msg := fmt.Sprintf("unknown query parameter %s on %s", quote.Q(name), route)
	if near := nearest(name, accepted); near != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", quote.Q(near))
	}
	if len(accepted) == 0 {
		msg += ": it takes no query parameters"
	} else {
		msg += ": it takes " + strings.Join(accepted, ", ")
	}
	if name == paramAccessToken {
		msg += "; ?access_token= is accepted only on GET/HEAD of the event streams and the dashboard: send Authorization: Bearer <token>"
	}
	return &apiError{status: http.StatusBadRequest, code: CodeUnknownParameter, msg: msg}
}

// nearest returns the accepted name closest to name if it is close: the
// same but for case and "-" for "_", or at most 2 edits away (1 for names
// of up to 4 bytes); else "".
func nearest(name string, accepted []string) string {
	if len(name) > 64 {
		return "" // bounds the edit distance's work; no parameter is that long
	}
	norm := strings.ReplaceAll(strings.ToLower(name), "-", "_")
	best, bestD := "", 3
	for _, a := range accepted {
		if norm == a {
			return a
		}
		limit := 2
		if len(a) <= 4 {
			limit = 1
		}
		if d := editDistance(norm, a); d <= limit && d < bestD {
			best, bestD = a, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, by bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
