package httpapi

import (
	"crypto/subtle"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/bgtask/bgtask/internal/quote"
)

// The checks every request passes before it is routed, in this order (see
// docs/security.md):
//
//  1. Host: without a token, only a loopback Host ("localhost",
//     127.0.0.0/8, [::1], with any port) is served, on every route, so
//     that a DNS-rebinding page (evil.example resolving to 127.0.0.1)
//     can neither read nor write.
//  2. Token: with one, "Authorization: Bearer <token>" on every route but
//     /healthz; the ?access_token= query parameter only on GET/HEAD of the
//     event streams and the dashboard's pages, which a browser loads
//     without headers (EventSource, <script>, <link>).
//  3. Cross-origin writes: a state-changing request (any method but GET,
//     HEAD, OPTIONS) whose Sec-Fetch-Site is not same-origin or none, or
//     whose Origin is not this server's own, is refused. Requests from
//     programs (curl, the CLI) carry neither header and pass.
//  4. Content type: a state-changing request must say
//     "Content-Type: application/json", which no cross-site page can send
//     without a CORS preflight (this server answers none), even if the
//     body is empty.

// safeMethod reports whether a method changes nothing on this server.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// loopbackHost reports whether a Host header names this machine's
// loopback interface: "localhost" or a loopback IP, with or without a
// port. Names that merely resolve to a loopback address are not loopback
// hosts: that is how DNS rebinding works.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	} else if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// crossOrigin returns why a state-changing request looks sent by a page of
// another origin, or "" when it does not: Sec-Fetch-Site other than
// same-origin or none (a user's own navigation), an Origin that is not
// http(s)://<Host>, or an Origin of "null" (sandboxed frames, file: pages,
// some redirects).
func crossOrigin(r *http.Request) string {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return "Sec-Fetch-Site " + site
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return ""
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.EqualFold(u.Host, r.Host) {
		return "Origin " + origin
	}
	return ""
}

// jsonContentType reports whether a Content-Type header says JSON:
// application/json, with parameters (charset=utf-8) or not.
func jsonContentType(v string) bool {
	mt, _, err := mime.ParseMediaType(v)
	return err == nil && mt == "application/json"
}

// bearer returns the token of an "Authorization: Bearer <token>" header;
// the scheme is case-insensitive (RFC 9110 §11.1).
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// queryTokenAllowed reports whether a request may carry its token as
// ?access_token=: only GET and HEAD of what a browser loads without
// setting headers, the event streams (EventSource) and the dashboard's
// page and assets. Everything else must send the header, so the token
// does not end up in logs and histories from API calls, and never in a
// form's action.
func queryTokenAllowed(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	p := r.URL.Path
	switch {
	case p == "/v1/events":
		return true
	case strings.HasPrefix(p, "/v1/tasks/") && strings.HasSuffix(p, "/events"):
		return true
	case strings.HasPrefix(p, "/v1/"), p == "/metrics", p == "/healthz":
		return false
	}
	return true // the dashboard
}

func (s *Server) authorized(r *http.Request) bool {
	if len(s.token) == 0 {
		return true
	}
	got, ok := bearer(r.Header.Get("Authorization"))
	if !ok && queryTokenAllowed(r) {
		got = r.URL.Query().Get("access_token")
	}
	return subtle.ConstantTimeCompare([]byte(got), s.token) == 1
}

// guard runs checks 1 and 2, on every request; it writes the refusal and
// returns false when the request must not go further.
func (s *Server) guard(w http.ResponseWriter, r *http.Request) bool {
	if len(s.token) == 0 && !loopbackHost(r.Host) {
		s.refuse(w, r, http.StatusForbidden, CodeForbiddenHost,
			"Host "+quoteHeader(r.Host)+" is not a loopback name; without a token this server answers only to localhost, 127.0.0.1 or [::1]")
		return false
	}
	if r.URL.Path != "/healthz" && !s.public(r) && !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="bgtask"`)
		s.refuse(w, r, http.StatusUnauthorized, CodeUnauthorized, "missing or wrong bearer token")
		return false
	}
	return true
}

// guardWrite runs checks 3 and 4 on a routed request (unknown routes and
// methods get their 404 and 405 first).
func (s *Server) guardWrite(w http.ResponseWriter, r *http.Request) bool {
	if safeMethod(r.Method) {
		return true
	}
	if why := crossOrigin(r); why != "" {
		s.refuse(w, r, http.StatusForbidden, CodeCrossOrigin, "cross-origin request refused ("+quote.Clip(why)+")")
		return false
	}
	if !jsonContentType(r.Header.Get("Content-Type")) {
		s.refuse(w, r, http.StatusUnsupportedMediaType, CodeUnsupportedMedia,
			quote.Clip(r.Method)+" needs Content-Type: application/json, got "+quoteHeader(r.Header.Get("Content-Type")))
		return false
	}
	return true
}

// refuse answers a request that did not pass a check. Its body is not
// read: the connection is closed after a bounded drain.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	write := func() { writeJSON(w, status, ErrorBody{Error: ErrorDetail{Code: code, Message: msg}}) }
	if r.ContentLength == 0 {
		write()
		return
	}
	drain(w, r, write)
}

// quoteHeader quotes a header value for a message, cut to
// quote.MaxBytes.
func quoteHeader(v string) string { return quote.Q(v) }
