package redisstore

import (
	"context"
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/bgtask/bgtask/store"
)

// claimArgs are the script's arguments for a claim: owner, incarnation,
// limits, stale age (µs), the names (counted) and the tags.
func claimArgs(p store.ClaimParams) []any {
	args := []any{p.Owner, p.Incarnation, strconv.Itoa(max(p.Limit, 0)), strconv.Itoa(max(p.IdleLimit, 0)),
		strconv.FormatInt(max(p.StaleAfter.Microseconds(), 0), 10), strconv.Itoa(len(p.Names))}
	for _, n := range p.Names {
		args = append(args, n)
	}
	for _, t := range p.Tags {
		args = append(args, t)
	}
	return args
}

// Claim takes queued and, with StaleAfter, orphaned records in one round
// trip per 500; see store.Store.
func (s *Store) Claim(ctx context.Context, p store.ClaimParams) ([]store.Claimed, error) {
	if skip, err := s.checkClaim(p); skip {
		return nil, err
	}
	// At most maxBatch records per call, so that no call holds Redis
	// long; a call that finds fewer than it asked for ends the claim.
	var out []store.Claimed
	left, idleLeft := max(p.Limit, 0), max(p.IdleLimit, 0)
	for left+idleLeft > 0 {
		q := p
		q.Limit, q.IdleLimit = min(left, maxBatch), min(idleLeft, maxBatch)
		res, err := s.run(ctx, "claim", claimArgs(q)...)
		if err != nil {
			return out, err
		}
		got, err := decodeClaimed(res)
		if err != nil {
			return out, err
		}
		out = append(out, got...)
		normal, idle := 0, 0
		for _, c := range got {
			if c.Record.Idle() {
				idle++
			} else {
				normal++
			}
		}
		if normal < q.Limit && idle < q.IdleLimit {
			break
		}
		left, idleLeft = left-normal, idleLeft-idle
		if normal < q.Limit {
			left = 0
		}
		if idle < q.IdleLimit {
			idleLeft = 0
		}
	}
	return out, nil
}

// Recover claims the records p.Owner holds under no lease in held; see
// store.Store. It knows no dead incarnations of other servers: their
// records become orphans that Claim takes after StaleAfter.
func (s *Store) Recover(ctx context.Context, p store.ClaimParams, held []store.Lease) ([]store.Claimed, error) {
	if skip, err := s.checkClaim(p); skip {
		return nil, err
	}
	if len(p.Abandoned) == 0 {
		nothing, err := s.holdsExactly(ctx, p, held)
		if nothing || err != nil {
			return nil, err
		}
	}
	args := append(claimArgs(p), "--")
	for _, l := range held {
		args = append(args, l.ID, l.Incarnation, strconv.FormatUint(l.Fence, 10))
	}
	args = append(args, "--")
	for _, l := range p.Abandoned {
		args = append(args, l.ID, strconv.FormatUint(l.Fence, 10))
	}
	res, err := s.run(ctx, "recover", args...)
	if err != nil {
		return nil, err
	}
	return decodeClaimed(res)
}

// holdsExactly reports whether Recover would find nothing to take: the
// owner's lease hash holds exactly the leases of held, all of them of
// p's incarnation (one call of a few commands whatever their number,
// compared by count and digest as a heartbeat is). A server recovers at
// every heartbeat; without this the call would read every record the
// owner holds each time. false (a second call, with the held leases) when
// held names another owner or incarnation.
func (s *Store) holdsExactly(ctx context.Context, p store.ClaimParams, held []store.Lease) (bool, error) {
	var digest uint64
	for _, l := range held {
		if l.Owner != p.Owner || l.Incarnation != p.Incarnation {
			return false, nil
		}
		digest ^= leaseHash(l.ID, l.Fence)
	}
	res, err := s.run(ctx, "holdsexactly", p.Owner, p.Incarnation, strconv.Itoa(len(held)), fmt.Sprintf("%016x", digest))
	if err != nil {
		return false, err
	}
	n, _ := res.(int64)
	return n == 1, nil
}

// checkClaim reports whether a claim with p need not reach Redis: the
// store is closed, p is invalid (err says why) or p can take nothing.
func (s *Store) checkClaim(p store.ClaimParams) (skip bool, err error) {
	switch {
	case s.closed.Load():
		return true, store.ErrClosed
	case p.Owner == "" || p.Incarnation == "":
		return true, fmt.Errorf("redisstore: claim: Owner and Incarnation are required")
	}
	return len(p.Names) == 0 || max(p.Limit, 0)+max(p.IdleLimit, 0) == 0, nil
}

// decodeClaimed decodes claim replies: {previous owner, exhausted, record}.
func decodeClaimed(res any) ([]store.Claimed, error) {
	// One flat list: per record the previous owner, "1" when it ran out
	// of attempts, the length of its reply, then the reply (put in
	// lua/4_claims.lua).
	flat := list(res)
	var out []store.Claimed
	for i := 0; i < len(flat); {
		if i+3 > len(flat) {
			return nil, fmt.Errorf("redisstore: claim reply cut short at %d of %d", i, len(flat))
		}
		k, ok := flat[i+2].(int64)
		if !ok || k < 1 || int64(len(flat)-i-3) < k {
			return nil, fmt.Errorf("redisstore: bad claim reply length %v at %d of %d", flat[i+2], i, len(flat))
		}
		prev, exhausted := str(flat[i]), str(flat[i+1]) == "1"
		r, err := decodeRecord(flat[i+3 : i+3+int(k)])
		if err != nil {
			return nil, err
		}
		i += 3 + int(k)
		c := store.Claimed{Record: r, PrevOwner: prev, Exhausted: exhausted}
		if !c.Exhausted {
			c.Lease = r.Lease()
		}
		out = append(out, c)
	}
	return out, nil
}

func leaseArgs(l store.Lease) []any {
	return []any{l.ID, l.Owner, l.Incarnation, strconv.FormatUint(l.Fence, 10)}
}

// Renew renews the leases in at most two round trips; see store.Store.
//
// The first is one heartbeat call naming, per incarnation, the number of
// its leases and their digest (digest): where they are exactly the
// leases the incarnation holds, Redis renews them all at once, whatever
// their number. The leases of the incarnations that did not match (a
// subset, a lease taken over, a record claimed or finished since) are
// renewed one by one in the second: one function call per 500 leases,
// sent together in a pipeline.
func (s *Store) Renew(ctx context.Context, leases []store.Lease) (store.RenewResult, error) {
	var out store.RenewResult
	if s.closed.Load() {
		return out, store.ErrClosed
	}
	if len(leases) == 0 {
		return out, nil
	}
	type incarnation struct {
		owner, inc string
		n          int
		digest     uint64
	}
	var incs []*incarnation
	byKey := map[[2]string]*incarnation{}
	for _, l := range leases {
		k := [2]string{l.Owner, l.Incarnation}
		g := byKey[k]
		if g == nil {
			g = &incarnation{owner: l.Owner, inc: l.Incarnation}
			byKey[k] = g
			incs = append(incs, g)
		}
		g.n++
		g.digest ^= leaseHash(l.ID, l.Fence)
	}
	args := make([]any, 0, 4*len(incs))
	for _, g := range incs {
		args = append(args, g.owner, g.inc, strconv.Itoa(g.n), fmt.Sprintf("%016x", g.digest))
	}
	res, err := s.run(ctx, "heartbeat", args...)
	if err != nil {
		return out, err
	}
	matched := map[[2]string]bool{}
	for i, r := range list(res) {
		if _, mismatch := r.(int64); mismatch || i >= len(incs) {
			continue
		}
		matched[[2]string{incs[i].owner, incs[i].inc}] = true
		for _, id := range list(r) {
			out.CancelRequested = append(out.CancelRequested, str(id))
		}
	}
	if len(matched) == len(incs) {
		return out, nil
	}
	rest := make([]store.Lease, 0, len(leases))
	for _, l := range leases {
		if !matched[[2]string{l.Owner, l.Incarnation}] {
			rest = append(rest, l)
		}
	}
	var argss [][]any
	var los []int
	_ = chunks(len(rest), func(lo, hi int) error {
		argss = append(argss, renewArgs(rest[lo:hi]))
		los = append(los, lo)
		return nil
	})
	ress, err := s.runAll(ctx, "renew", argss)
	if err != nil {
		return out, err
	}
	for k, r := range ress {
		l := list(r)
		for _, i := range list(l[0]) {
			n, _ := i.(int64)
			out.Lost = append(out.Lost, rest[los[k]+int(n)-1])
		}
		for _, id := range list(l[1]) {
			out.CancelRequested = append(out.CancelRequested, str(id))
		}
	}
	return out, nil
}

// leaseHash is a lease's 64-bit hash, the one the library XORs into its
// incarnation's digest (leasehash in lua/1_records.lua): the first 8
// bytes of SHA-1("ID FENCE"), big-endian.
func leaseHash(id string, fence uint64) uint64 {
	sum := sha1.Sum([]byte(id + " " + strconv.FormatUint(fence, 10)))
	return binary.BigEndian.Uint64(sum[:8])
}

// renewArgs are the arguments of one renew call: for each run of leases
// with the same owner and incarnation, owner, incarnation, the number of
// leases, then ID and fence of each (a server's heartbeat names itself
// once, not once per lease).
func renewArgs(leases []store.Lease) []any {
	args := make([]any, 0, 2*len(leases)+3)
	for i := 0; i < len(leases); {
		j := i + 1
		for j < len(leases) && leases[j].Owner == leases[i].Owner && leases[j].Incarnation == leases[i].Incarnation {
			j++
		}
		args = append(args, leases[i].Owner, leases[i].Incarnation, strconv.Itoa(j-i))
		for _, l := range leases[i:j] {
			args = append(args, l.ID, strconv.FormatUint(l.Fence, 10))
		}
		i = j
	}
	return args
}

// patchArgs are the script's 8 arguments for a patch.
func patchArgs(p store.Patch) []any {
	args := leaseArgs(p.Lease)
	args = append(args, optional(p.Progress != nil, func() string { return encodeProgress(*p.Progress) })...)
	return append(args, optional(p.Subtasks != nil, func() string { return encodeSubtasks(p.Subtasks) })...)
}

// optional is a flag and a value, encoded only when the flag is set.
func optional(set bool, value func() string) []any {
	if !set {
		return []any{"0", ""}
	}
	return []any{"1", value()}
}

// patch runs op (update or release) over patches and returns the leases
// the script reported lost.
func (s *Store) patch(ctx context.Context, op string, patches []store.Patch) ([]store.Lease, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	var lost []store.Lease
	err := chunks(len(patches), func(lo, hi int) error {
		args := make([]any, 0, 8*(hi-lo))
		for _, p := range patches[lo:hi] {
			args = append(args, patchArgs(p)...)
		}
		res, err := s.run(ctx, op, args...)
		if err != nil {
			return err
		}
		for _, i := range list(res) {
			n, _ := i.(int64)
			lost = append(lost, patches[lo+int(n)-1].Lease)
		}
		return nil
	})
	return lost, err
}

// Update applies patches under their leases; see store.Store.
func (s *Store) Update(ctx context.Context, patches []store.Patch) ([]store.Lease, error) {
	return s.patch(ctx, "update", patches)
}

// Release hands records back to the queue; see store.Store.
func (s *Store) Release(ctx context.Context, patches []store.Patch) ([]store.Lease, error) {
	return s.patch(ctx, "release", patches)
}

// Finish writes terminal states in one round trip per 500 completions;
// see store.Store.
func (s *Store) Finish(ctx context.Context, cs []store.Completion) ([]store.FinishResult, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	out := make([]store.FinishResult, 0, len(cs))
	err := chunks(len(cs), func(lo, hi int) error {
		args := make([]any, 0, 14*(hi-lo))
		for _, c := range cs[lo:hi] {
			if !c.State.Terminal() {
				return fmt.Errorf("redisstore: finish of %s with state %q, want a terminal state", c.Lease.ID, c.State)
			}
			args = append(args, leaseArgs(c.Lease)...)
			args = append(args, string(c.State), c.Error, strconv.Itoa(c.ExitCode))
			args = append(args, optional(c.Progress != nil, func() string { return encodeProgress(*c.Progress) })...)
			args = append(args, optional(c.Subtasks != nil, func() string { return encodeSubtasks(c.Subtasks) })...)
			h := leaseHash(c.Lease.ID, c.Lease.Fence)
			args = append(args, strconv.FormatUint(h>>32, 10), strconv.FormatUint(h&0xffffffff, 10))
			args = append(args, strconv.FormatInt(max(c.Age.Microseconds(), 0), 10))
		}
		res, err := s.run(ctx, "finish", args...)
		if err != nil {
			return err
		}
		for _, v := range list(res) {
			var err error
			switch st := str(v); st {
			case "":
			case "owner":
				err = store.ErrNotOwner
			case "missing":
				err = store.ErrNotFound
			default:
				return fmt.Errorf("redisstore: unexpected finish status %q", st)
			}
			out = append(out, store.FinishResult{Err: err})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
