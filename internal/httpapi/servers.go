package httpapi

import (
	"net/http"
	"time"

	"github.com/bgtask/bgtask/store"
)

// ServerEntry is one entry of GET /v1/servers: a live server sharing the store,
// as it last announced itself, with the tasks it holds leases on.
type ServerEntry struct {
	ID          string    `json:"id"`
	Incarnation string    `json:"incarnation"`
	Host        string    `json:"host"`
	PID         int       `json:"pid"`
	StartedAt   time.Time `json:"started_at"`
	SeenAt      time.Time `json:"seen_at"`
	Tags        []string  `json:"tags,omitempty"`
	Names       []string  `json:"names"`
	MaxWorkers  int       `json:"max_workers"`
	Running     []string  `json:"running"`
	// Self is true for the server that answered.
	Self bool `json:"self"`
}

// servers serves GET /v1/servers: every live server of the store (one,
// on the embedded store; all that share it, on Redis).
func (s *Server) servers(w http.ResponseWriter, r *http.Request) {
	infos, err := s.m.Store().Servers(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]ServerEntry, len(infos))
	for i, in := range infos {
		out[i] = entryOf(in)
		out[i].Self = in.ID == s.m.ServerID()
	}
	writeJSON(w, http.StatusOK, map[string]any{"servers": out})
}

func entryOf(in store.ServerInfo) ServerEntry {
	e := ServerEntry{
		ID: in.ID, Incarnation: in.Incarnation, Host: in.Host, PID: in.PID, StartedAt: in.StartedAt,
		SeenAt: in.SeenAt, Tags: in.Tags, Names: in.Names, MaxWorkers: in.MaxWorkers, Running: in.Running,
	}
	if e.Names == nil {
		e.Names = []string{}
	}
	if e.Running == nil {
		e.Running = []string{}
	}
	return e
}
