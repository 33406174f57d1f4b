-- Writes under a lease: renew, update, release, finish.

-- Renew: runs of leases of one owner and incarnation, each as owner,
-- incarnation, count, then id, fence per lease. Returns the indexes
-- (1-based, over all the leases of the call) of the lost ones and the
-- IDs with a cancel request.
--
-- A lease is checked against its owner's lease hash (P l:OWNER, one
-- HMGET for all the leases of an owner, not one read per record) and
-- renewed in its incarnation's set (one ZADD XX per incarnation): a
-- heartbeat of N leases is a few commands whatever N. The record hash is
-- not written; its h is brought up to date when it stops being owned.
-- When the call renewed every lease an incarnation holds, it also moves
-- the incarnation's heartbeat (P hb) to now.
local function renew()
	local lost, cancel = {}, {}
	local groups, order = {}, {} -- owner -> {ids, indexes, wanted values, incarnations}
	local n, b = 0, A
	while b <= #ARGV do
		local owner, inc, count = ARGV[b], ARGV[b + 1], tonum(ARGV[b + 2])
		local g = groups[owner]
		if not g then
			g = {ids = {}, idx = {}, want = {}, inc = {}}
			groups[owner] = g
			order[#order + 1] = owner
		end
		local suffix = ':' .. L(#inc) .. ':' .. inc
		b = b + 3
		for _ = 1, count do
			n = n + 1
			local k = #g.ids + 1
			g.ids[k], g.idx[k], g.want[k], g.inc[k] = ARGV[b], n, ARGV[b + 1] .. suffix, inc
			b = b + 2
		end
	end
	local owned, renewed = {}, {} -- incarnation's set -> {NOW, id, ...}; ikey -> {owner, inc, n, ids}
	for _, owner in ipairs_(order) do
		local g = groups[owner]
		for j = 1, #g.ids, BULK do
			local last = mmin(j + BULK - 1, #g.ids)
			local vals = rcall('HMGET', klease(owner), unpack_(g.ids, j, last))
			for k = j, last do
				local v, w = vals[k - j + 1], g.want[k]
				if v and ssub(v, 2, #w + 1) == w then
					local inc, id = g.inc[k], g.ids[k]
					local key = kinc(owner, inc)
					local args = owned[key]
					if not args then
						args = {}
						owned[key] = args
					end
					args[#args + 1] = NOW
					args[#args + 1] = id
					local ik = ikey(owner, inc)
					local rn = renewed[ik]
					if not rn then
						rn = {owner, inc, 0, {}}
						renewed[ik] = rn
					end
					if not rn[4][id] then
						rn[4][id] = true
						rn[3] = rn[3] + 1
					end
					if sbyte(v, 1) == 49 then cancel[#cancel + 1] = id end
				else
					lost[#lost + 1] = g.idx[k]
				end
			end
		end
	end
	for key, args in pairs_(owned) do
		for j = 1, #args, BULK do
			rcall('ZADD', key, 'XX', unpack_(args, j, mmin(j + BULK - 1, #args)))
		end
	end
	for ik, rn in pairs_(renewed) do
		if lirecords(kinc(rn[1], rn[2])) == rn[3] then rcall('ZADD', KHB, 'XX', 'GT', NOW, ik) end
	end
	tsort(lost)
	return {lost, cancel}
end

-- Heartbeat: runs of owner, incarnation, count, digest (16 hex digits:
-- the XOR of the lease hashes, see leasehash), one per incarnation. A
-- run whose count and digest are those of the leases the incarnation
-- holds renews them all at once: its heartbeat (P hb) becomes now, no
-- lease is read or written. Returns per run the IDs of its records with
-- a pending cancel, or 0 when the leases do not match (the client then
-- renews them one by one with Renew).
local function heartbeat()
	local out = {}
	for b = A, #ARGV, 4 do
		local owner, inc = ARGV[b], ARGV[b + 1]
		local k = ikey(owner, inc)
		if holding(owner, inc, tonum(ARGV[b + 2]), ARGV[b + 3]) then
			rcall('ZADD', KHB, 'GT', NOW, k)
			out[#out + 1] = rcall('SMEMBERS', kcan(owner, inc))
		else
			out[#out + 1] = 0
		end
	end
	return out
end

-- Update and Release: patches as id, owner, incarnation, fence,
-- progress flag + progress, subtasks flag + subtasks.
local PATCH_ARITY = 8

local function patched(b)
	local r = load(ARGV[b])
	if not holds(r, ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]) then return nil, false end
	local changed = false
	if ARGV[b + 4] == '1' then
		r.p = ARGV[b + 5]
		changed = true
	end
	if ARGV[b + 6] == '1' then
		r.u = ARGV[b + 7]
		changed = true
	end
	return r, changed
end

local function update()
	local lost, n = {}, 0
	for b = A, #ARGV, PATCH_ARITY do
		n = n + 1
		local r, changed = patched(b)
		if not r then
			lost[#lost + 1] = n
		elseif changed then
			emit(r, 'updated')
			save(r)
		end
	end
	return done(lost)
end

local function release()
	local lost, n, queued = {}, 0, nil
	for b = A, #ARGV, PATCH_ARITY do
		n = n + 1
		local r = patched(b)
		if not r then
			lost[#lost + 1] = n
		else
			r.h = lastbeat(r)
			unown(r)
			r.o, r.i = '', ''
			r.a = fmt(mmax(num(r.a) - 1, 0))
			save(r)
			enqueue(r)
			queued = queued or r
		end
	end
	-- one enqueued event for the call (see insert)
	if queued then emit(queued, 'enqueued') end
	return done(lost)
end

-- Finish: completions as id, owner, incarnation, fence, state, error,
-- exit code, progress flag + progress, subtasks flag + subtasks, the
-- lease's hash (see leasehash) as its two 32-bit lanes in decimal, which
-- the caller computes (the library's SHA-1 of it cost as much as the
-- rest of the digest's upkeep; a lane that is not a number is computed
-- here), and the outcome's age in microseconds (fi is NOW minus it, not
-- before st: store.Completion.Age). A
-- completion that changes the progress appends an updated event before
-- the terminal one. Each
-- result is a status: '' (applied or repeated), 'owner' or 'missing'
-- (no record: the owner has what it wrote, and a reply of 100 records
-- cost Redis more than the finish itself).
local FINISH_ARITY = 14

-- FINISHF are the fields a finish reads and may change (leanload).
-- (besides those in z)
local FINISHF = {'n', 'q', 'o', 'i', 'p', 'u', 'e', 'st'}

local function finishall()
	local out = {}
	expiring = (#ARGV - A + 1) / FINISH_ARITY
	-- Load every record first (once, however often the call names it)
	-- and read the last heartbeats of the held ones with one ZMSCORE per
	-- incarnation (and its heartbeat, see lastbeat): a finished record
	-- keeps its last heartbeat in h.
	local recs, beats, byset, added = {}, {}, {}, {}
	for b = A, #ARGV, FINISH_ARITY do
		local id = ARGV[b]
		if recs[id] == nil then recs[id] = leanload(id, FINISHF) or false end
		local r = recs[id]
		if r and not added[id] and holds(r, ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]) then
			added[id] = true
			local key = kinc(r.o, r.i)
			local set = byset[key]
			if not set then
				set = {ik = ikey(r.o, r.i), ids = {}}
				byset[key] = set
			end
			set.ids[#set.ids + 1] = id
		end
	end
	for key, set in pairs_(byset) do
		local ids = set.ids
		local hb = tonum(rcall('ZSCORE', KHB, set.ik) or '0')
		for j = 1, #ids, BULK do
			local last = mmin(j + BULK - 1, #ids)
			local scores = rcall('ZMSCORE', key, unpack_(ids, j, last))
			for k = j, last do
				local sc = scores[k - j + 1]
				if sc then
					beats[ids[k]] = fmt(mmax(tonum(sc), hb))
					recs[ids[k]]._tracked = true
				else
					-- owned through a previous version's library
					beats[ids[k]] = lastbeat(recs[ids[k]])
				end
			end
		end
	end
	for b = A, #ARGV, FINISH_ARITY do
		local r = recs[ARGV[b]]
		local owner, inc, fence = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
		if not r then
			out[#out + 1] = 'missing'
		elseif holds(r, owner, inc, fence) then
			r.h = beats[r.id] or r.h
			r.e, r.x = ARGV[b + 5], ARGV[b + 6]
			-- The final progress is delivered before the end.
			if ARGV[b + 7] == '1' and ARGV[b + 8] ~= (r.p or '') then
				r.p = ARGV[b + 8]
				emit(r, 'updated')
			end
			if ARGV[b + 9] == '1' then r.u = ARGV[b + 10] end
			r._ha, r._hb = tonum(ARGV[b + 11]), tonum(ARGV[b + 12])
			local age, fi = tonum(ARGV[b + 13]) or 0, nil
			if age > 0 then fi = fmt(mmax(now - age, tonum(r.st) or 0)) end
			finish(r, ARGV[b + 4], r._lean and empty(r.u) and #r.e <= CHUNK and #(r.p or '') <= CHUNK, fi)
			out[#out + 1] = ''
		elseif terminal(r.s) and r.i == inc and r.f == fence then
			out[#out + 1] = ''
		else
			out[#out + 1] = 'owner'
		end
	end
	return done(out)
end
