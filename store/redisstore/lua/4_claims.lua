-- Claims: queued records and orphans, Recover.


-- reset prepares r for a new attempt: progress cleared, subtasks that
-- had not succeeded back to PENDING.
local function reset(r)
	r.p = ''
	local subs = subtasks(r)
	if #subs > 0 then
		for _, s in ipairs_(subs) do
			if s[2] ~= 'SUCCESS' then
				s[2], s[3], s[4] = 'PENDING', '', ''
			end
		end
		r.u = jencode(subs)
	end
end

-- put appends to out (whose length is n) one claim's reply entry: the
-- previous owner, '1' when the record ran out of attempts instead, the
-- length of the record's reply, then that reply (see reply). The entries
-- of a call follow one another in one flat list: a table costs Redis
-- about as much to send as eight strings. It returns out's new length.
local function put(out, n, prev, exhausted, r)
	local raw = r._raw
	if raw then
		-- (reply's list without moving raw's items to insert the id)
		local set = r._set
		r._raw = nil
		local nr, ns = #raw, #set
		out[n + 1], out[n + 2], out[n + 3], out[n + 4] = prev, exhausted, 1 + nr + ns, r.id
		n = n + 4
		for j = 1, nr do out[n + j] = raw[j] end
		n = n + nr
		for j = 1, ns do out[n + j] = set[j] end
		return n + ns
	end
	local rep = reply(r)
	local k = #rep
	out[n + 1], out[n + 2], out[n + 3] = prev, exhausted, k
	n = n + 3
	for j = 1, k do out[n + j] = rep[j] end
	return n + k
end

-- take claims r for owner/inc and appends its entry to out (length n:
-- see put); same is true for a record this very incarnation claimed but
-- never started (its attempt is kept); last is its last heartbeat when
-- the caller knows it (an orphan's score). It returns out's new length.
local function take(out, n, r, owner, inc, same, last)
	local prev = r.o or ''
	local attempt = num(r.a)
	if not same and prev ~= '' then r.h = last or lastbeat(r) end
	unown(r)
	if not same then
		local max = num(r.m)
		if max > 0 and attempt >= max then
			r.e = 'orphaned after ' .. fmt(attempt) .. ' attempt'
			if attempt ~= 1 then r.e = r.e .. 's' end
			r.x = '1'
			r.o = ''
			finish(r, 'FAILURE')
			return put(out, n, prev, '1', r)
		end
		attempt = attempt + 1
	end
	r.a, r.o, r.i, r.f, r.h, r.st = fmt(attempt), owner, inc, fmt(num(r.f) + 1), NOW, NOW
	reset(r)
	emit(r, 'started')
	if r._lean and empty(r.u) then
		-- the common claim, no subtasks: one HSET of the fields a claim
		-- changes, without comparing (owner, incarnation, start and z
		-- are new, the progress is '' now), not save's pass over all
		local old, z, key = r._old, packhot(r), krec(r.id)
		local o, i, st = r.o, r.i, r.st
		local set = r._set
		if (old.p or '') ~= '' then
			rcall('HSET', key, 'o', o, 'i', i, 'st', st, 'z', z, 'p', '')
			if set then
				local k = #set
				set[k + 1], set[k + 2] = 'p', ''
			end
		else
			rcall('HSET', key, 'o', o, 'i', i, 'st', st, 'z', z)
		end
		old.o, old.i, old.st, old.z, old.p = o, i, st, z, ''
		if set then
			local k = #set
			set[k + 1], set[k + 2], set[k + 3], set[k + 4], set[k + 5], set[k + 6], set[k + 7], set[k + 8] =
				'o', o, 'i', i, 'st', st, 'z', z
		end
	else
		save(r)
	end
	own(r)
	return put(out, n, prev, '', r)
end

-- CLAIMF are the fields take reads and may change (wholeload) besides
-- those in z.
local CLAIMF = {n = true, q = true, m = true, u = true, p = true, e = true, o = true, i = true}

-- kinds returns the queue kinds of names that a server with tags may
-- run, split by priority letter: {n = {...}, i = {...}}.
local function kinds(names, tags)
	local out = {n = {}, i = {}}
	for _, name in ipairs_(names) do
		local qs = {'n[]', 'i[]'}
		if next_(tags) then
			flush()
			for _, q in ipairs_(rcall('SMEMBERS', kkinds(name))) do qs[#qs + 1] = q end
		end
		for _, q in ipairs_(qs) do
			local ok = ssub(q, 2) == '[]'
			if not ok then
				for _, t in ipairs_(jdecode(ssub(q, 2))) do
					if tags[t] then
						ok = true
						break
					end
				end
			end
			if ok then
				local list = out[ssub(q, 1, 1)]
				list[#list + 1] = kkind(name, q)
			end
		end
	end
	return out
end

-- ORPHANPAGE is how many records of a stale incarnation (or of an
-- owned set) orphans reads at a time.
local ORPHANPAGE = 100

-- orphans returns up to about limit records of the queue kinds in kinds
-- whose heartbeat is older than cutoff and whose incarnation is not inc,
-- as {heartbeat, id, tracked}, oldest heartbeat first. A held record's
-- heartbeat is the later of its own score and its incarnation's (see
-- lastbeat), so only the incarnations whose heartbeat is older than
-- cutoff (P hb) are looked into, and in each only the records whose own
-- score is older too: live servers' records are not read. Records owned
-- through a previous version's library are found as that version found
-- them, by their score in the owned set of their kind.
local function orphans(kinds, inc, cutoff, limit)
	applyinc()
	flush()
	local want = {}
	for _, kind in ipairs_(kinds) do want[kind] = true end
	local cands, seen = {}, {}
	local below = '(' .. fmt(cutoff)
	local incs = rcall('ZRANGEBYSCORE', KHB, '-inf', below, 'WITHSCORES')
	for j = 1, #incs, 2 do
		local k, hb = incs[j], tonum(incs[j + 1])
		local len, rest = smatch(k, '^(%d+):(.*)$')
		len = tonum(len)
		local owner, their = ssub(rest, 1, len), ssub(rest, len + 2)
		if their ~= inc then
			local key, suffix = kinc(owner, their), ':' .. L(#their) .. ':' .. their
			local off, found = 0, 0
			for _ = 1, 10000 do
				local got = rcall('ZRANGEBYSCORE', key, '-inf', below, 'WITHSCORES', 'LIMIT', off, ORPHANPAGE)
				if #got == 0 then break end
				local ids = {}
				for g = 1, #got, 2 do ids[#ids + 1] = got[g] end
				local vals = rcall('HMGET', klease(owner), unpack_(ids))
				for g = 1, #ids do
					local id, v = ids[g], vals[g]
					local fence = v and smatch(v, '^.(%d+)')
					if fence and ssub(v, 2 + #fence, 1 + #fence + #suffix) == suffix then
						if want[ssub(v, 2 + #fence + #suffix)] and not seen[id] then
							seen[id] = true
							cands[#cands + 1] = {mmax(tonum(got[2 * g]), hb), id, true}
							found = found + 1
						end
					else
						-- not held by this incarnation any more (a previous
						-- version's library moved it): forget it here
						zrem(key, id)
						incxor(owner, their)
					end
				end
				off = off + #ids
				if found >= limit then break end
			end
		end
	end
	for _, kind in ipairs_(kinds) do
		local off, found = 0, 0
		for _ = 1, 10000 do
			local got = rcall('ZRANGEBYSCORE', kowned(kind), '-inf', below, 'WITHSCORES', 'LIMIT', off, limit)
			if #got == 0 then break end
			for j = 1, #got, 2 do
				local id = got[j]
				if not seen[id] and rcall('HGET', krec(id), 'i') ~= inc then
					seen[id] = true
					cands[#cands + 1] = {tonum(got[j + 1]), id, false}
					found = found + 1
				end
			end
			off = off + #got / 2
			if found >= limit then break end
		end
	end
	tsort(cands, function(x, y)
		if x[1] ~= y[1] then return x[1] < y[1] end
		return x[2] < y[2]
	end)
	return cands
end

-- Claim: owner, incarnation, limit, idle limit, stale after (µs, 0 for
-- none), #names, names..., tags...
local function claim()
	local owner, inc = ARGV[A], ARGV[A + 1]
	local limits = {n = tonum(ARGV[A + 2]), i = tonum(ARGV[A + 3])}
	local stale = tonum(ARGV[A + 4])
	local nn = tonum(ARGV[A + 5])
	local names, tags = {}, {}
	for j = 1, nn do names[j] = ARGV[A + 5 + j] end
	for j = A + 6 + nn, #ARGV do tags[ARGV[j]] = true end
	local ks = kinds(names, tags)
	local out, n = {}, 0
	for _, prio in ipairs_({'n', 'i'}) do
		local limit = limits[prio]
		-- queued, oldest ID first across every kind
		local ids, from = {}, 0
		flush()
		if limit > 0 then
			for _, kind in ipairs_(ks[prio]) do
				local got = rcall('ZRANGE', kqueue(kind), 0, limit - 1)
				if #got > 0 then
					from = from + 1
					if #ids == 0 then
						ids = got
					else
						for _, id in ipairs_(got) do ids[#ids + 1] = id end
					end
				end
			end
		end
		-- (one queue's IDs come in order already)
		if from > 1 then tsort(ids) end
		for j = 1, mmin(limit, #ids) do
			n = take(out, n, wholeload(ids[j], CLAIMF), owner, inc, false)
		end
		limit = limit - mmin(limit, #ids)
		-- orphans, oldest heartbeat first
		if stale > 0 and limit > 0 then
			local cands = orphans(ks[prio], inc, now - stale, limit)
			for j = 1, mmin(limit, #cands) do
				local r = load(cands[j][2])
				r._tracked = cands[j][3]
				n = take(out, n, r, owner, inc, false, fmt(cands[j][1]))
			end
		end
	end
	return done(out)
end

-- HoldsExactly: owner, incarnation, count, digest (as Heartbeat's) of
-- the leases the caller holds, all of that incarnation. Returns 1 when
-- the owner's lease hash holds exactly those (its size is count, and the
-- incarnation's set has count records with that digest: each of its
-- records is in the hash too), so that Recover would take nothing; 0
-- otherwise. A few commands whatever the count.
local function holdsexactly()
	local owner, inc, count, digest = ARGV[A], ARGV[A + 1], tonum(ARGV[A + 2]), ARGV[A + 3]
	if rcall('HLEN', klease(owner)) ~= count then return 0 end
	if count == 0 or holding(owner, inc, count, digest) then return 1 end
	return 0
end

-- Recover: like Claim's arguments (stale unused), then after the tags
-- '--' and the held leases as id, incarnation, fence triples, then '--'
-- and the abandoned leases (started, stopped without an outcome) as id,
-- fence pairs: taken as a new attempt, not as a lost claim answer.
local function recover()
	local owner, inc = ARGV[A], ARGV[A + 1]
	local limits = {n = tonum(ARGV[A + 2]), i = tonum(ARGV[A + 3])}
	local nn = tonum(ARGV[A + 5])
	local names, tags, held = {}, {}, {}
	for j = 1, nn do names[ARGV[A + 5 + j]] = true end
	local j = A + 6 + nn
	while j <= #ARGV and ARGV[j] ~= '--' do
		tags[ARGV[j]] = true
		j = j + 1
	end
	j = j + 1
	while j + 2 <= #ARGV and ARGV[j] ~= '--' do
		held[ARGV[j] .. ' ' .. ARGV[j + 1] .. ' ' .. ARGV[j + 2]] = true
		j = j + 3
	end
	-- then, after a second '--', the abandoned leases as id, fence pairs
	local abandoned = {}
	j = j + 1
	while j + 1 <= #ARGV do
		abandoned[ARGV[j] .. ' ' .. ARGV[j + 1]] = true
		j = j + 2
	end
	local cands = {n = {}, i = {}}
	flush()
	for _, id in ipairs_(rcall('HKEYS', klease(owner))) do
		local r = load(id)
		if r and r.s == 'ONGOING' and r.o == owner and names[r.n] and not held[id .. ' ' .. (r.i or '') .. ' ' .. (r.f or '')] then
			local tagsok = ssub(r.q, 2) == '[]'
			if not tagsok then
				for _, t in ipairs_(jdecode(ssub(r.q, 2))) do
					if tags[t] then tagsok = true end
				end
			end
			if tagsok then
				local list = cands[ssub(r.q, 1, 1)]
				list[#list + 1] = r
			end
		end
	end
	local out, n = {}, 0
	for _, prio in ipairs_({'n', 'i'}) do
		local list = cands[prio]
		tsort(list, function(x, y) return x.id < y.id end)
		for k = 1, mmin(limits[prio], #list) do
			local r = list[k]
			n = take(out, n, r, owner, inc, r.i == inc and not abandoned[r.id .. ' ' .. (r.f or '')])
		end
	end
	return done(out)
end
