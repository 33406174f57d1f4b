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
	// Up is how long the server has been up: the answer's Now minus
	// StartedAt, computed by the answering server, a Go duration rounded
	// to the millisecond ("4.012s"), never negative. Compute uptime from
	// it (or from ServersResponse.Now), not from SeenAt (which lags by up
	// to a heartbeat interval) nor from the client's clock (which need not
	// agree with the server's). For the answering server (Self) one
	// clock gives both times; for another, StartedAt is that server's
	// clock: Up is off by the two servers' clock difference. Empty from a
	// server older than the field.
	Up string `json:"up,omitempty"`
}

// ServersResponse is the body of GET /v1/servers.
type ServersResponse struct {
	Servers []ServerEntry `json:"servers"`
	// Now is the answering server's time when it made the answer (after
	// reading the store), by its clock: the time to compare StartedAt and
	// SeenAt with, rather than the client's clock. Zero from a server
	// older than the field.
	Now time.Time `json:"now,omitzero"`
}

// servers serves GET /v1/servers: every live server of the store (one,
// on the embedded store; all that share it, on Redis), with this server's
// time and each one's uptime by it.
func (s *Server) servers(w http.ResponseWriter, r *http.Request) {
	infos, err := s.m.Store().Servers(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	now := time.Now()
	out := make([]ServerEntry, len(infos))
	for i, in := range infos {
		out[i] = entryOf(in)
		out[i].Self = in.ID == s.m.ServerID()
		out[i].Up = max(0, now.Sub(in.StartedAt)).Round(time.Millisecond).String()
	}
	writeJSON(w, http.StatusOK, ServersResponse{Servers: out, Now: now})
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
