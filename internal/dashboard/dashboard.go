// Package dashboard serves the single-page dashboard of `bgtask serve`: one
// HTML page and its stylesheet and script, embedded in the binary. The page
// needs nothing but the server's /v1 API: no build step, no CDN, it works
// offline. See docs/dashboard.md.
package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/bgtask/bgtask/internal/httpapi"
	"github.com/bgtask/bgtask/internal/quote"
)

// AssetPrefix is the path under which the page's assets are served.
const AssetPrefix = httpapi.DashboardAssetPrefix

//go:embed index.html
var indexHTML string

//go:embed assets
var assetFS embed.FS

// contentTypes are the types of the files under assets/, by extension.
var contentTypes = map[string]string{
	".css": "text/css; charset=utf-8",
	".js":  "text/javascript; charset=utf-8",
	".svg": "image/svg+xml",
}

// csp allows nothing but this origin: no inline script or style.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

type asset struct {
	data []byte
	typ  string
	etag string
}

type handler struct {
	assets map[string]asset // by name under assets/
}

// Handler returns the dashboard: the page at "/" and its files under
// AssetPrefix. Anything else is a JSON 404 like the API's. The page and
// its assets are revalidated on every load (Cache-Control: no-cache with
// an ETag), so an upgraded server is never shown with a stale script.
//
// The page and its assets hold no data: the API serves them without its
// token, and the page asks for the token (a sign-in form) when the API
// wants one. A page opened as /?access_token=T takes T, keeps it for the
// browser tab's session and removes it from the address.
// Views have addresses in the URL's hash: #/ (the list, with ?state=,
// name= and id= filters) and #/task/<id>.
func Handler() http.Handler {
	h := &handler{assets: map[string]asset{}}
	entries, err := assetFS.ReadDir("assets")
	if err != nil {
		panic(err) // embedded: cannot fail
	}
	for _, e := range entries {
		data, err := assetFS.ReadFile("assets/" + e.Name())
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(data)
		h.assets[e.Name()] = asset{data: data, typ: contentTypes[path.Ext(e.Name())], etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, httpapi.CodeMethod, quote.Clip(r.Method)+" not allowed on "+quote.Clip(r.URL.Path))
		return
	}
	if r.URL.Path == "/" {
		h.index(w, r)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, AssetPrefix)
	a, found := h.assets[name]
	if !ok || !found || a.typ == "" {
		writeError(w, http.StatusNotFound, httpapi.CodeNotFound, "no such endpoint: "+quote.Clip(r.URL.Path))
		return
	}
	w.Header().Set("Content-Type", a.typ)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", a.etag)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.data))
}

// index serves the page.
func (h *handler) index(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer") // the URL may hold the token
	http.ServeContent(w, r, "index.html", time.Time{}, strings.NewReader(indexHTML))
}

// writeError writes the API's error shape, {"error":{"code","message"}}.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(httpapi.ErrorBody{Error: httpapi.ErrorDetail{Code: code, Message: msg}})
}
