#!lua name=__LIBRARY__
-- bgtask's Redis store: every operation that reads or changes more than
-- one key is a function of this one Redis Functions library, so each
-- call is atomic and one round trip, and the library is compiled once
-- (FUNCTION LOAD), not at every call. The store calls it as
--
--   FCALL __LIBRARY__ 0 OP PREFIX NOW LOGMAX LOGAGE RETAIN ARGS...
--
-- OP names the operation (the table at the end), PREFIX is the key
-- prefix, NOW the caller's clock in microseconds or "" for Redis' own
-- TIME, LOGMAX and LOGAGE bound the event log (entries, microseconds),
-- RETAIN is the age (microseconds, 0 for none) after which finished
-- records are deleted by the writes that pass by. The library's name
-- carries a hash of this text, so that servers of different versions
-- sharing one Redis each call their own.
--
-- Keys are built here from PREFIX; docs/redis.md lists them all.
--
-- Record hash fields: n name, s state, a attempt, m max attempts, o owner,
-- i incarnation, f fence, h heartbeat (µs), c cancel requested ("1"),
-- p progress ("cur tot msg", "" = zero), u subtasks (JSON array of
-- [key, state, error, progress]), st started (µs), fi finished (µs),
-- e error, x exit code, k idempotency key, q queue kind (priority letter
-- and JSON array of sorted tags), d everything the store never reads
-- (args, creation time, timeouts, tags, priority; opaque here), es the
-- Seq of the newest task event about the record.

-- The call's arguments and clock, set by main at the start of every call
-- (Redis runs one call at a time).
local ARGV, P, now, NOW, LOGMAX, LOGAGE, RETAIN
local A = 7 -- first argument of the operation

-- appended is true once the call appended to the log, seq is then the
-- last Seq it used (written back to P seq at the end of the call);
-- expiring is how many finished records the call may delete for RETAIN.
local appended, seq, expiring = false, 0, 0

local function fmt(n) return string.format('%d', n) end
local STATES = {'ONGOING', 'SUCCESS', 'FAILURE', 'CANCELLED'}
local function terminal(s) return s == 'SUCCESS' or s == 'FAILURE' or s == 'CANCELLED' end

-- keys
local function krec(id) return P .. 't:' .. id end
local function kstate(s) return P .. 's:' .. s end
local function knamestate(s, name) return P .. 'ns:' .. s .. ':' .. name end
local function kkind(name, q) return #name .. ':' .. name .. ':' .. q end
local function kqueue(kind) return P .. 'q:' .. kind end
local function kowned(kind) return P .. 'o:' .. kind end
local function kkinds(name) return P .. 'qs:' .. name end
local function kown(owner) return P .. 'own:' .. owner end
local KFIN, KIDEM, KSEQ, KLOG, KSRV, KSRVEXP -- set by main from P

-- records
--
-- Values longer than CHUNK bytes of the fields in CHUNKED (which the
-- library never reads by HGET) are stored in CHUNK-byte pieces: f, f2,
-- f3, ... so that a record's hash stays a compact listpack (Redis keeps
-- a hash as a listpack while every value is at most
-- hash-max-listpack-value, 64 by default, bytes).
local CHUNK = 64
local CHUNKED = {d = true, u = true, p = true, e = true}

-- load returns the record id (nil if none), its fields joined, with
-- _old, what is stored, so that save writes only what changed.
local function load(id)
	local flat = redis.call('HGETALL', krec(id))
	if #flat == 0 then return nil end
	local r, old, parts = {id = id}, {}, {}
	for j = 1, #flat, 2 do
		local f, v = flat[j], flat[j + 1]
		local base, n = string.match(f, '^([dupe])(%d+)$')
		if base then
			parts[#parts + 1] = {base, tonumber(n), v}
		else
			r[f] = v
		end
		old[f] = v
	end
	table.sort(parts, function(x, y)
		if x[1] ~= y[1] then return x[1] < y[1] end
		return x[2] < y[2]
	end)
	for _, pt in ipairs(parts) do r[pt[1]] = r[pt[1]] .. pt[3] end
	r._old = old
	return r
end

local FIELDS = {'n', 's', 'a', 'm', 'o', 'i', 'f', 'h', 'c', 'p', 'u', 'st', 'fi', 'e', 'x', 'k', 'q', 'd', 'es'}

local function empty(v) return v == nil or v == '' or v == false end

-- pieces returns the hash fields that store value v of field f.
local function pieces(f, v, out)
	if not CHUNKED[f] or #v <= CHUNK then
		out[f] = v
		return
	end
	out[f] = string.sub(v, 1, CHUNK)
	local k = 2
	for pos = CHUNK + 1, #v, CHUNK do
		out[f .. k] = string.sub(v, pos, pos + CHUNK - 1)
		k = k + 1
	end
end

-- save writes the fields of r that changed since load and deletes the
-- ones emptied.
local function save(r)
	local want = {}
	for _, f in ipairs(FIELDS) do
		if not empty(r[f]) then pieces(f, tostring(r[f]), want) end
	end
	local old = r._old or {}
	local set, del = {}, {}
	for f, v in pairs(want) do
		if old[f] ~= v then
			set[#set + 1] = f
			set[#set + 1] = v
		end
	end
	for f in pairs(old) do
		if want[f] == nil then del[#del + 1] = f end
	end
	local key = krec(r.id)
	if #del > 0 then redis.call('HDEL', key, unpack(del)) end
	if #set > 0 then redis.call('HSET', key, unpack(set)) end
	r._old = want
end

-- reply is the record as a flat field/value list with its id first.
local function reply(r)
	local out = {r.id}
	for _, f in ipairs(FIELDS) do
		local v = r[f]
		if v ~= nil and v ~= '' and v ~= false then
			out[#out + 1] = f
			out[#out + 1] = tostring(v)
		end
	end
	return out
end

local function num(v) return tonumber(v) or 0 end

-- index moves r from state 'from' (nil: new) to r.s.
local function reindex(r, from)
	if from == r.s then return end
	if from then
		redis.call('ZREM', kstate(from), r.id)
		redis.call('ZREM', knamestate(from, r.n), r.id)
	end
	redis.call('ZADD', kstate(r.s), 0, r.id)
	redis.call('ZADD', knamestate(r.s, r.n), 0, r.id)
	if terminal(r.s) then
		redis.call('ZADD', KFIN, r.fi, r.id)
	elseif from and terminal(from) then
		redis.call('ZREM', KFIN, r.id)
	end
end

local function enqueue(r)
	local kind = kkind(r.n, r.q)
	redis.call('SADD', kkinds(r.n), r.q)
	redis.call('ZADD', kqueue(kind), 0, r.id)
end

local function own(r)
	redis.call('ZADD', kowned(kkind(r.n, r.q)), r.h, r.id)
	redis.call('SADD', kown(r.o), r.id)
end

-- unown removes r from the queue and owner indexes it is in.
local function unown(r)
	local kind = kkind(r.n, r.q)
	if r.o and r.o ~= '' then
		redis.call('ZREM', kowned(kind), r.id)
		redis.call('SREM', kown(r.o), r.id)
	else
		redis.call('ZREM', kqueue(kind), r.id)
	end
end

local function holds(r, owner, inc, fence)
	return r ~= nil and r.s == 'ONGOING' and r.o ~= nil and r.o ~= '' and r.o == owner and r.i == inc and r.f == fence
end

local function subtasks(r)
	if not r.u or r.u == '' then return {} end
	return cjson.decode(r.u)
end

-- event log

-- emit appends the event of kind about r. A task event also sets r.es,
-- which the caller's save then writes: emit comes before save.
local function emit(r, kind)
	if not appended then seq = tonumber(redis.call('GET', KSEQ) or '0') end
	seq = seq + 1
	local fields = {'k', kind, 'id', r.id, 'n', r.n, 's', r.s, 'a', r.a or '0', 't', NOW}
	if r.p and r.p ~= '' then
		fields[#fields + 1] = 'p'
		fields[#fields + 1] = r.p
	end
	if kind == 'done' or kind == 'partial_success' or kind == 'failed' or kind == 'cancelled' then
		if r.e and r.e ~= '' then
			fields[#fields + 1] = 'e'
			fields[#fields + 1] = r.e
		end
		if r.x and r.x ~= '' then
			fields[#fields + 1] = 'x'
			fields[#fields + 1] = r.x
		end
		local errs, any = {}, false
		for _, s in ipairs(subtasks(r)) do
			if s[2] == 'FAILURE' then
				errs[s[1]] = s[3]
				any = true
			end
		end
		if any then
			fields[#fields + 1] = 'se'
			fields[#fields + 1] = cjson.encode(errs)
		end
	end
	if kind == 'cancel' then
		fields[#fields + 1] = 'o'
		fields[#fields + 1] = r.o
	end
	redis.call('XADD', KLOG, '0-' .. fmt(seq), unpack(fields))
	appended = true
	if kind ~= 'enqueued' and kind ~= 'cancel' then r.es = fmt(seq) end
end

-- trimlog keeps the log within LOGMAX entries and LOGAGE microseconds.
local function trimlog()
	if LOGMAX > 0 then redis.call('XTRIM', KLOG, 'MAXLEN', '=', LOGMAX) end
	if LOGAGE <= 0 then return end
	local cutoff = now - LOGAGE
	-- The common case, nothing too old: one look at the oldest entry.
	local oldest = redis.call('XRANGE', KLOG, '-', '+', 'COUNT', 1)
	if #oldest == 0 then return end
	for j = 1, #oldest[1][2], 2 do
		if oldest[1][2][j] == 't' and tonumber(oldest[1][2][j + 1]) >= cutoff then return end
	end
	for _ = 1, 1000 do
		local old = redis.call('XRANGE', KLOG, '-', '+', 'COUNT', 100)
		if #old == 0 then return end
		local keep = nil
		for _, e in ipairs(old) do
			local f = e[2]
			local t = 0
			for j = 1, #f, 2 do
				if f[j] == 't' then t = tonumber(f[j + 1]) end
			end
			if t >= cutoff then
				keep = e[1]
				break
			end
		end
		if keep then
			redis.call('XTRIM', KLOG, 'MINID', keep)
			return
		end
		local last = old[#old][1]
		redis.call('XTRIM', KLOG, 'MINID', last)
		redis.call('XDEL', KLOG, last)
	end
end

local function done(result)
	if appended then trimlog() end
	return result
end

local function terminalkind(r)
	if r.s == 'SUCCESS' then
		for _, s in ipairs(subtasks(r)) do
			if s[2] == 'FAILURE' then return 'partial_success' end
		end
		return 'done'
	elseif r.s == 'CANCELLED' then
		return 'cancelled'
	end
	return 'failed'
end

-- finish ends r in state st (r's fields e, x, p, u already set).
local function finish(r, st)
	local from = r.s
	unown(r)
	r.s, r.fi, r.o, r.c = st, NOW, '', ''
	emit(r, terminalkind(r))
	save(r)
	reindex(r, from)
end

-- Insert: per record 10 arguments: id, name, queue kind, data, idem key,
-- owner, incarnation, max attempts, progress, subtasks.
local INSERT_ARITY = 10

local function insert()
	local n = (#ARGV - A + 1) / INSERT_ARITY
	expiring = n
	local recs = {}
	for j = 0, n - 1 do
		local b = A + j * INSERT_ARITY
		recs[j + 1] = {id = ARGV[b], n = ARGV[b + 1], q = ARGV[b + 2], d = ARGV[b + 3], k = ARGV[b + 4],
			o = ARGV[b + 5], i = ARGV[b + 6], m = ARGV[b + 7], p = ARGV[b + 8], u = ARGV[b + 9]}
	end
	-- Check every ID before writing anything: a batch with a stored ID
	-- stores nothing. The same record again (a repeated call whose answer
	-- was lost) is answered as the first call was.
	local repeated = {}
	for j, r in ipairs(recs) do
		local old = load(r.id)
		if old then
			if old.n ~= r.n or old.d ~= r.d then
				return redis.error_reply('DUPID ' .. r.id)
			end
			repeated[j] = old
		end
	end
	local out = {}
	for j, r in ipairs(recs) do
		local old = repeated[j]
		if old then
			local lease = ''
			if r.o ~= '' and old.o == r.o and old.i == r.i and old.f == '1' then lease = '1' end
			out[#out + 1] = {r.id, '', lease}
		else
			local existing = nil
			if r.k ~= '' then existing = redis.call('HGET', KIDEM, r.k) end
			if existing then
				out[#out + 1] = {existing, '1', ''}
			else
				if r.k ~= '' then redis.call('HSET', KIDEM, r.k, r.id) end
				r.s = 'ONGOING'
				if r.o ~= '' then
					r.a, r.f, r.h, r.st = '1', '1', NOW, NOW
					emit(r, 'started')
					save(r)
					redis.call('SADD', kkinds(r.n), r.q) -- so that claims find it as an orphan
					own(r)
					reindex(r, nil)
					out[#out + 1] = {r.id, '', '1'}
				else
					r.a, r.f, r.o, r.i = '0', '', '', ''
					save(r)
					enqueue(r)
					reindex(r, nil)
					emit(r, 'enqueued')
					out[#out + 1] = {r.id, '', ''}
				end
			end
		end
	end
	return done(out)
end

-- reset prepares r for a new attempt: progress cleared, subtasks that
-- had not succeeded back to PENDING.
local function reset(r)
	r.p = ''
	local subs = subtasks(r)
	if #subs > 0 then
		for _, s in ipairs(subs) do
			if s[2] ~= 'SUCCESS' then
				s[2], s[3], s[4] = 'PENDING', '', ''
			end
		end
		r.u = cjson.encode(subs)
	end
end

-- take claims r for owner/inc; same is true for a record this very
-- incarnation claimed but never started (its attempt is kept). It
-- returns the reply entry.
local function take(r, owner, inc, same)
	local prev = r.o or ''
	local attempt = num(r.a)
	unown(r)
	if not same then
		local max = num(r.m)
		if max > 0 and attempt >= max then
			r.e = 'orphaned after ' .. fmt(attempt) .. ' attempt'
			if attempt ~= 1 then r.e = r.e .. 's' end
			r.x = '1'
			r.o = ''
			finish(r, 'FAILURE')
			return {prev, '1', reply(r)}
		end
		attempt = attempt + 1
	end
	r.a, r.o, r.i, r.f, r.h, r.st = fmt(attempt), owner, inc, fmt(num(r.f) + 1), NOW, NOW
	reset(r)
	emit(r, 'started')
	save(r)
	own(r)
	return {prev, '', reply(r)}
end

local function set(list)
	local s = {}
	for _, v in ipairs(list) do s[v] = true end
	return s
end

-- kinds returns the queue kinds of names that a server with tags may
-- run, split by priority: {normal = {...}, idle = {...}}.
local function kinds(names, tags)
	local out = {n = {}, i = {}}
	for _, name in ipairs(names) do
		for _, q in ipairs(redis.call('SMEMBERS', kkinds(name))) do
			local ok = string.sub(q, 2) == '[]'
			if not ok then
				for _, t in ipairs(cjson.decode(string.sub(q, 2))) do
					if tags[t] then
						ok = true
						break
					end
				end
			end
			if ok then
				local list = out[string.sub(q, 1, 1)]
				list[#list + 1] = kkind(name, q)
			end
		end
	end
	return out
end

-- Claim: owner, incarnation, limit, idle limit, stale after (µs, 0 for
-- none), #names, names..., tags...
local function claim()
	local owner, inc = ARGV[A], ARGV[A + 1]
	local limits = {n = tonumber(ARGV[A + 2]), i = tonumber(ARGV[A + 3])}
	local stale = tonumber(ARGV[A + 4])
	local nn = tonumber(ARGV[A + 5])
	local names, tags = {}, {}
	for j = 1, nn do names[j] = ARGV[A + 5 + j] end
	for j = A + 6 + nn, #ARGV do tags[ARGV[j]] = true end
	local ks = kinds(names, tags)
	local out = {}
	for _, prio in ipairs({'n', 'i'}) do
		local limit = limits[prio]
		-- queued, oldest ID first across every kind
		local ids = {}
		if limit > 0 then
			for _, kind in ipairs(ks[prio]) do
				for _, id in ipairs(redis.call('ZRANGE', kqueue(kind), 0, limit - 1)) do ids[#ids + 1] = id end
			end
		end
		table.sort(ids)
		for j = 1, math.min(limit, #ids) do
			out[#out + 1] = take(load(ids[j]), owner, inc, false)
		end
		limit = limit - math.min(limit, #ids)
		-- orphans, oldest renewal first
		if stale > 0 and limit > 0 then
			local cands = {}
			for _, kind in ipairs(ks[prio]) do
				local off = 0
				local found = 0
				for _ = 1, 10000 do
					local got = redis.call('ZRANGEBYSCORE', kowned(kind), '-inf', '(' .. fmt(now - stale), 'WITHSCORES', 'LIMIT', off, limit)
					if #got == 0 then break end
					for j = 1, #got, 2 do
						local id = got[j]
						if redis.call('HGET', krec(id), 'i') ~= inc then
							cands[#cands + 1] = {tonumber(got[j + 1]), id}
							found = found + 1
						end
					end
					off = off + #got / 2
					if found >= limit then break end
				end
			end
			table.sort(cands, function(x, y)
				if x[1] ~= y[1] then return x[1] < y[1] end
				return x[2] < y[2]
			end)
			for j = 1, math.min(limit, #cands) do
				out[#out + 1] = take(load(cands[j][2]), owner, inc, false)
			end
		end
	end
	return done(out)
end

-- Recover: like Claim's arguments (stale unused), then after the tags
-- '--' and the held leases as id, fence pairs.
local function recover()
	local owner, inc = ARGV[A], ARGV[A + 1]
	local limits = {n = tonumber(ARGV[A + 2]), i = tonumber(ARGV[A + 3])}
	local nn = tonumber(ARGV[A + 5])
	local names, tags, held = {}, {}, {}
	for j = 1, nn do names[ARGV[A + 5 + j]] = true end
	local j = A + 6 + nn
	while j <= #ARGV and ARGV[j] ~= '--' do
		tags[ARGV[j]] = true
		j = j + 1
	end
	j = j + 1
	while j + 2 <= #ARGV + 1 do
		held[ARGV[j] .. ' ' .. ARGV[j + 1] .. ' ' .. ARGV[j + 2]] = true
		j = j + 3
	end
	local cands = {n = {}, i = {}}
	for _, id in ipairs(redis.call('SMEMBERS', kown(owner))) do
		local r = load(id)
		if r and r.s == 'ONGOING' and r.o == owner and names[r.n] and not held[id .. ' ' .. (r.i or '') .. ' ' .. (r.f or '')] then
			local tagsok = string.sub(r.q, 2) == '[]'
			if not tagsok then
				for _, t in ipairs(cjson.decode(string.sub(r.q, 2))) do
					if tags[t] then tagsok = true end
				end
			end
			if tagsok then
				local list = cands[string.sub(r.q, 1, 1)]
				list[#list + 1] = r
			end
		end
	end
	local out = {}
	for _, prio in ipairs({'n', 'i'}) do
		local list = cands[prio]
		table.sort(list, function(x, y) return x.id < y.id end)
		for k = 1, math.min(limits[prio], #list) do
			local r = list[k]
			out[#out + 1] = take(r, owner, inc, r.i == inc)
		end
	end
	return done(out)
end

-- Renew: leases as id, owner, incarnation, fence. Returns the indexes
-- (1-based) of the lost ones and the IDs with a cancel request.
local function renew()
	local lost, cancel = {}, {}
	local n = 0
	for b = A, #ARGV, 4 do
		n = n + 1
		local id = ARGV[b]
		-- Only fields that are never stored in pieces: no HGETALL needed.
		local v = redis.call('HMGET', krec(id), 's', 'o', 'i', 'f', 'c', 'n', 'q')
		if holds({s = v[1], o = v[2], i = v[3], f = v[4]}, ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]) then
			redis.call('HSET', krec(id), 'h', NOW)
			redis.call('ZADD', kowned(kkind(v[6], v[7])), 'XX', now, id)
			if v[5] == '1' then cancel[#cancel + 1] = id end
		else
			lost[#lost + 1] = n
		end
	end
	return {lost, cancel}
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
	local lost, n = {}, 0
	for b = A, #ARGV, PATCH_ARITY do
		n = n + 1
		local r = patched(b)
		if not r then
			lost[#lost + 1] = n
		else
			unown(r)
			r.o, r.i = '', ''
			r.a = fmt(math.max(num(r.a) - 1, 0))
			save(r)
			enqueue(r)
			emit(r, 'enqueued')
		end
	end
	return done(lost)
end

-- Finish: completions as id, owner, incarnation, fence, state, error,
-- exit code, progress flag + progress, subtasks flag + subtasks. A
-- completion that changes the progress appends an updated event before
-- the terminal one. Each
-- result is {status, record}: status '' (applied or repeated), 'owner'
-- or 'missing'.
local FINISH_ARITY = 11

local function finishall()
	local out = {}
	expiring = (#ARGV - A + 1) / FINISH_ARITY
	for b = A, #ARGV, FINISH_ARITY do
		local r = load(ARGV[b])
		local owner, inc, fence = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
		if not r then
			out[#out + 1] = {'missing'}
		elseif holds(r, owner, inc, fence) then
			r.e, r.x = ARGV[b + 5], ARGV[b + 6]
			-- The final progress is delivered before the end.
			if ARGV[b + 7] == '1' and ARGV[b + 8] ~= (r.p or '') then
				r.p = ARGV[b + 8]
				emit(r, 'updated')
			end
			if ARGV[b + 9] == '1' then r.u = ARGV[b + 10] end
			finish(r, ARGV[b + 4])
			out[#out + 1] = {'', reply(r)}
		elseif terminal(r.s) and r.i == inc and r.f == fence then
			out[#out + 1] = {'', reply(r)}
		else
			out[#out + 1] = {'owner'}
		end
	end
	return done(out)
end

-- RequestCancel: id. Returns {status, record}: status '' , 'missing' or
-- 'finished'.
local function cancel()
	local r = load(ARGV[A])
	if not r then return {'missing'} end
	if terminal(r.s) then return {'finished'} end
	if r.o and r.o ~= '' then
		if r.c ~= '1' then
			r.c = '1'
			save(r)
		end
		emit(r, 'cancel')
	else
		r.e, r.x = 'cancelled', '1'
		finish(r, 'CANCELLED')
	end
	return done({'', reply(r)})
end

-- Retry: id, max attempts to grant (0: unchanged). Returns {status,
-- record}: status '', 'missing' or 'nothing'.
local function retry()
	local r = load(ARGV[A])
	if not r then return {'missing'} end
	local subs = subtasks(r)
	local failed = false
	for _, s in ipairs(subs) do
		if s[2] == 'FAILURE' then
			s[2], s[3], s[4] = 'PENDING', '', ''
			failed = true
		end
	end
	if not terminal(r.s) or not failed then return {'nothing'} end
	local from = r.s
	r.u = cjson.encode(subs)
	r.s, r.fi, r.e, r.x, r.o, r.i = 'ONGOING', '', '', '', '', ''
	local grant = tonumber(ARGV[A + 1])
	if grant > 0 then r.m = fmt(num(r.a) + grant) end
	save(r)
	reindex(r, from)
	enqueue(r)
	emit(r, 'enqueued')
	return done({'', reply(r)})
end

-- deleterec removes a terminal record and every index entry of it.
local function deleterec(id)
	local r = load(id)
	redis.call('ZREM', KFIN, id)
	if not r then return end
	redis.call('DEL', krec(id))
	redis.call('ZREM', kstate(r.s), id)
	redis.call('ZREM', knamestate(r.s, r.n), id)
	if r.k and r.k ~= '' and redis.call('HGET', KIDEM, r.k) == id then redis.call('HDEL', KIDEM, r.k) end
end

-- DeleteFinished: older than (µs), limit. Also trims the log by age.
local function deletefinished()
	local cutoff = now - tonumber(ARGV[A])
	local ids = redis.call('ZRANGEBYSCORE', KFIN, '-inf', '(' .. fmt(cutoff), 'LIMIT', 0, tonumber(ARGV[A + 1]))
	for _, id in ipairs(ids) do deleterec(id) end
	trimlog()
	return #ids
end

-- expire deletes up to limit records finished before now - age (the
-- store's own retention, run with Finish and Insert).
local function expire(age, limit)
	if age <= 0 then return end
	local ids = redis.call('ZRANGEBYSCORE', KFIN, '-inf', '(' .. fmt(now - age), 'LIMIT', 0, limit)
	for _, id in ipairs(ids) do deleterec(id) end
end

-- List: state ('' any), name ('' any), cursor ('' from the newest),
-- limit. Returns {records..., next cursor or ''} newest first.
local function list()
	local st, name, cursor, limit = ARGV[A], ARGV[A + 1], ARGV[A + 2], tonumber(ARGV[A + 3])
	local keys = {}
	for _, s in ipairs(STATES) do
		if st == '' or st == s then
			if name == '' then keys[#keys + 1] = kstate(s) else keys[#keys + 1] = knamestate(s, name) end
		end
	end
	local max = '+'
	if cursor ~= '' then max = '(' .. cursor end
	local ids = {}
	for _, key in ipairs(keys) do
		for _, id in ipairs(redis.call('ZREVRANGEBYLEX', key, max, '-', 'LIMIT', 0, limit + 1)) do ids[#ids + 1] = id end
	end
	table.sort(ids, function(x, y) return x > y end)
	local out, next = {}, ''
	for j = 1, math.min(limit, #ids) do
		local r = load(ids[j])
		if r then out[#out + 1] = reply(r) end
	end
	if #ids > limit then next = ids[limit] end
	out[#out + 1] = next
	return out
end

local function counts()
	local out = {}
	for _, s in ipairs(STATES) do out[#out + 1] = redis.call('ZCARD', kstate(s)) end
	return out
end

-- ReadLog: after, limit. Returns {head, truncated, entries}.
local function readlog()
	local after, limit = tonumber(ARGV[A]), tonumber(ARGV[A + 1])
	local head = tonumber(redis.call('GET', KSEQ) or '0')
	local entries
	local truncated = 0
	if after > head then
		entries = redis.call('XRANGE', KLOG, '-', '+', 'COUNT', limit)
		truncated = 1
	else
		entries = redis.call('XRANGE', KLOG, '(0-' .. fmt(after), '+', 'COUNT', limit)
		if after < head then
			if #entries == 0 or entries[1][1] ~= '0-' .. fmt(after + 1) then truncated = 1 end
		end
	end
	return {head, truncated, entries}
end

-- Announce: id, ttl (µs), info JSON.
local function announce()
	local id = ARGV[A]
	redis.call('ZADD', KSRVEXP, now + tonumber(ARGV[A + 1]), id)
	redis.call('HSET', KSRV, id, NOW .. ' ' .. ARGV[A + 2])
	return 1
end

-- Withdraw: id, incarnation.
local function withdraw()
	local id, inc = ARGV[A], ARGV[A + 1]
	local v = redis.call('HGET', KSRV, id)
	if not v then return 0 end
	local info = cjson.decode(string.sub(v, string.find(v, ' ') + 1))
	if info.incarnation ~= inc then return 0 end
	redis.call('HDEL', KSRV, id)
	redis.call('ZREM', KSRVEXP, id)
	return 1
end

-- Servers: returns {id, "seen json", running ids} per live server; drops
-- the ones that expired.
local function servers()
	for _, id in ipairs(redis.call('ZRANGEBYSCORE', KSRVEXP, '-inf', '(' .. NOW)) do
		redis.call('HDEL', KSRV, id)
		redis.call('ZREM', KSRVEXP, id)
	end
	local out = {}
	for _, id in ipairs(redis.call('ZRANGEBYSCORE', KSRVEXP, NOW, '+inf')) do
		local v = redis.call('HGET', KSRV, id)
		if v then out[#out + 1] = {id, v, redis.call('SMEMBERS', kown(id))} end
	end
	return out
end

local OPS = {
	insert = insert, claim = claim, recover = recover, renew = renew, update = update,
	release = release, finish = finishall, cancel = cancel, retry = retry,
	deletefinished = deletefinished, list = list, counts = counts, readlog = readlog,
	announce = announce, withdraw = withdraw, servers = servers,
}

local function main(_, args)
	ARGV = args
	P = ARGV[2]
	now = tonumber(ARGV[3])
	if not now then
		local t = redis.call('TIME')
		now = tonumber(t[1]) * 1000000 + tonumber(t[2])
	end
	NOW = fmt(now)
	LOGMAX, LOGAGE, RETAIN = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
	KFIN, KIDEM, KSEQ, KLOG = P .. 'fin', P .. 'idem', P .. 'seq', P .. 'log'
	KSRV, KSRVEXP = P .. 'srv', P .. 'srvexp'
	appended, seq, expiring = false, 0, 0
	local f = OPS[ARGV[1]]
	if not f then return redis.error_reply('bgtask: unknown operation ' .. tostring(ARGV[1])) end
	local result = f()
	if appended then redis.call('SET', KSEQ, fmt(seq)) end
	-- Twice the records the call wrote: retention keeps up with any rate.
	if RETAIN > 0 and expiring > 0 then expire(RETAIN, 2 * expiring) end
	return result
end

redis.register_function('__LIBRARY__', main)
