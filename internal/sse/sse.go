// Package sse holds the server-sent events framing shared by package
// bgtask, which encodes each event of its log once for every stream, and
// internal/httpapi, which writes the streams.
package sse

import (
	"context"
	"strconv"
	"time"
)

// AppendFrame appends one event to dst: its name, its ID, and data on one
// line.
func AppendFrame(dst []byte, kind string, id uint64, data []byte) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, kind...)
	dst = append(dst, "\nid: "...)
	dst = strconv.AppendUint(dst, id, 10)
	return appendData(dst, data)
}

// AppendFrameNoID appends one event without an ID (the client's last ID
// stays).
func AppendFrameNoID(dst []byte, kind string, data []byte) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, kind...)
	return appendData(dst, data)
}

func appendData(dst, data []byte) []byte {
	dst = append(dst, "\ndata: "...)
	dst = append(dst, data...)
	return append(dst, "\n\n"...)
}

// ReadFrames is set by package bgtask (this package cannot import it). It
// appends to dst the frames of the next events of reader, a
// *bgtask.EventReader of all tasks (SubscribeOpts.TaskID ""), as the
// /v1/events stream sends them: each event with its kind as the name, its
// Seq as the ID and its JSON as the data; a reset as event "reset" with
// data {"seq":N}. The frames of an event held in the manager's memory are
// encoded once and shared by every stream. It waits until it has at least
// one frame, or until idle fires (then it returns dst as it was), and
// stops appending at about maxBytes; it returns ctx's error when ctx ends
// first, and bgtask.ErrStopped once the manager has stopped and every
// event it held has been returned. (A wait on the store, while the
// manager does not run, may outlast idle.)
var ReadFrames func(ctx context.Context, reader any, dst []byte, maxBytes int, idle <-chan time.Time) ([]byte, error)
