-- The event log: appending (emit) and trimming (ReadLog reads it with
-- plain commands, see log.go).

-- The log is a stream of entries, each holding the events of one call
-- (at most ENTRYMAX of them): ID 0-LAST (the Seq of its last event),
-- fields f (the Seq of its first), t (the call's time, µs: every event
-- of the call has it) and b, the events one after another, Seqs f to
-- LAST. An event is its fields, each written as the field's name (lower
-- case letters), the value's length in bytes, ':' and the value, then a
-- newline. One XADD per call rather than per event: less work for Redis
-- at every append, every read and in the AOF. Entries of earlier
-- versions (one event each, its fields as the entry's fields) are read
-- as before (see decodeEntries).
local ENTRYMAX = 64

-- pending holds the encoded events of the call not yet in the log (from
-- Seq pendfirst); writelog appends them.
local pending, pendfirst = {}, 0

-- writelog appends the pending events and moves P seq to the last of
-- them in the same step: P seq never names an event the log did not get
-- (a call that fails before its events are written leaves no hole).
local function writelog()
	if #pending == 0 then return end
	local last = fmt(pendfirst + #pending - 1)
	rcall('XADD', KLOG, '0-' .. last, 'f', fmt(pendfirst), 't', NOW, 'b', tconcat(pending))
	rcall('SET', KSEQ, last)
	pending = {}
end

local function item(k, v) return k .. L(#v) .. ':' .. v end

-- TERMINALEV are the kinds of the events that end a run.
local TERMINALEV = {done = true, partial_success = true, failed = true, cancelled = true}

-- emit adds the event of kind about r to the call's log entry. A task
-- event also sets r.es, which the caller's save then writes: emit comes
-- before save. (The common event, no progress, error or subtasks, is
-- one concatenation.)
local function emit(r, kind)
	if appended then
		seq = seq + 1
	else
		-- (P seq moves when the events are written: writelog)
		seq = tonum(rcall('GET', KSEQ) or '0') + 1
		first = seq
	end
	local np = #pending
	if np >= ENTRYMAX then
		writelog()
		np = 0
	end
	if np == 0 then pendfirst = seq end
	local a, id, n, st = r.a or '0', r.id, r.n, r.s
	local head = 'k' .. L(#kind) .. ':' .. kind .. 'id' .. L(#id) .. ':' .. id .. 'n' .. L(#n) .. ':' .. n ..
		's' .. L(#st) .. ':' .. st .. 'a' .. L(#a) .. ':' .. a
	local p, tail = r.p, nil
	if p and p ~= '' then tail = item('p', p) end
	if TERMINALEV[kind] then
		local e, x = r.e, r.x
		if e and e ~= '' then tail = (tail or '') .. item('e', e) end
		if x and x ~= '' then tail = (tail or '') .. item('x', x) end
		local subs = subtasks(r)
		if subs ~= NOSUBS then
			local errs, any = {}, false
			for _, sub in ipairs_(subs) do
				if sub[2] == 'FAILURE' then
					errs[sub[1]] = sub[3]
					any = true
				end
			end
			if any then tail = (tail or '') .. item('se', jencode(errs)) end
		end
	elseif kind == 'cancel' then
		tail = (tail or '') .. item('o', r.o)
	end
	if tail then
		pending[np + 1] = head .. tail .. '\n'
	else
		pending[np + 1] = head .. '\n'
	end
	appended = true
	if kind ~= 'enqueued' and kind ~= 'cancel' then r.es = fmt(seq) end
end

-- trimlog keeps the log within LOGMAX events (give or take the events
-- of one entry) and LOGAGE microseconds.
local function trimlog()
	writelog()
	if LOGMAX > 0 then
		local head = seq
		if not appended then head = tonum(rcall('GET', KSEQ) or '0') end
		if head > LOGMAX then rcall('XTRIM', KLOG, 'MINID', '0-' .. fmt(head - LOGMAX + 1)) end
	end
	if LOGAGE <= 0 then return end
	local cutoff = now - LOGAGE
	-- The common case, nothing too old: one look at the oldest entry.
	local oldest = rcall('XRANGE', KLOG, '-', '+', 'COUNT', 1)
	if #oldest == 0 then return end
	for j = 1, #oldest[1][2], 2 do
		if oldest[1][2][j] == 't' and tonum(oldest[1][2][j + 1]) >= cutoff then return end
	end
	for _ = 1, 1000 do
		local old = rcall('XRANGE', KLOG, '-', '+', 'COUNT', 16)
		if #old == 0 then return end
		local keep = nil
		for _, e in ipairs_(old) do
			local f = e[2]
			local t = 0
			for j = 1, #f, 2 do
				if f[j] == 't' then t = tonum(f[j + 1]) end
			end
			if t >= cutoff then
				keep = e[1]
				break
			end
		end
		if keep then
			rcall('XTRIM', KLOG, 'MINID', keep)
			return
		end
		local last = old[#old][1]
		rcall('XTRIM', KLOG, 'MINID', last)
		rcall('XDEL', KLOG, last)
	end
end

-- housekeeping reports whether the call's Seqs crossed a multiple of
-- HOUSEKEEPING.
local function housekeeping()
	return appended and mfloor((first - 1) / HOUSEKEEPING) ~= mfloor(seq / HOUSEKEEPING)
end

local function done(result)
	if housekeeping() then trimlog() end
	return result
end

local function terminalkind(r)
	if r.s == 'SUCCESS' then
		for _, s in ipairs_(subtasks(r)) do
			if s[2] == 'FAILURE' then return 'partial_success' end
		end
		return 'done'
	elseif r.s == 'CANCELLED' then
		return 'cancelled'
	end
	return 'failed'
end

-- finish ends r in state st (r's fields e, x, p, u already set), with
-- fi (microseconds, a string) as its finish time, NOW when nil. A
-- record read by leanload without subtasks and with short values (lean)
-- is written by one HSET of the fields a finish changes. Ending FAILURE or CANCELLED, its subtasks
-- that never finished take that state and r's error (as the manager
-- does with a run's outcome, store.EndSubtasks): an orphaned or
-- cancelled parallel task can be retried.
local function finish(r, st, lean, fi)
	local from = r.s
	fi = fi or NOW
	unown(r)
	if (st == 'FAILURE' or st == 'CANCELLED') and not empty(r.u) then
		local subs, changed = subtasks(r), false
		for _, s in ipairs_(subs) do
			if s[2] == 'ONGOING' or s[2] == 'PENDING' then
				s[2], s[3] = st, r.e or ''
				changed = true
			end
		end
		if changed then r.u = jencode(subs) end
	end
	r.s, r.fi, r.o, r.c = st, fi, '', ''
	emit(r, terminalkind(r))
	if lean then
		-- only the fields a finish changes when the record has no
		-- subtasks (z: s, c, h, x, es; fi, o; e and p when they differ)
		local old, z = r._old, packhot(r)
		local e, p = r.e or '', r.p or ''
		local set, k = {'fi', fi, 'o', '', 'z', z, nil, nil, nil, nil}, 6
		if e ~= (old.e or '') then
			set[k + 1], set[k + 2] = 'e', e
			k = k + 2
		end
		if p ~= (old.p or '') then
			set[k + 1], set[k + 2] = 'p', p
			k = k + 2
		end
		rcall('HSET', krec(r.id), unpack_(set, 1, k))
		old.fi, old.o, old.z, old.e, old.p = fi, '', z, e, p
	else
		save(r)
	end
	reindex(r, from)
end
