-- Records as a whole: insert, cancel, retry, retention, listing.

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
	for j, r in ipairs_(recs) do
		local old = rcall('EXISTS', krec(r.id)) == 1 and load(r.id)
		if old then
			if old.n ~= r.n or old.d ~= r.d then
				return redis.error_reply('DUPID ' .. r.id)
			end
			repeated[j] = old
		end
	end
	-- One enqueued event for the call, naming its first queued record
	-- (the contract's "TaskID is one of them"), not one per record.
	local out, queued = {}, nil
	for j, r in ipairs_(recs) do
		local old = repeated[j]
		if old then
			local lease = ''
			if r.o ~= '' and old.o == r.o and old.i == r.i and old.f == '1' then lease = '1' end
			out[#out + 1] = {r.id, '', lease}
		else
			local existing = nil
			if r.k ~= '' then existing = rcall('HGET', KIDEM, r.k) end
			if existing then
				out[#out + 1] = {existing, '1', ''}
			else
				if r.k ~= '' then rcall('HSET', KIDEM, r.k, r.id) end
				r.s = 'ONGOING'
				if r.o ~= '' then
					r.a, r.f, r.h, r.st = '1', '1', NOW, NOW
					emit(r, 'started')
					save(r)
					register(r) -- so that claims find it as an orphan
					own(r)
					reindex(r, nil)
					out[#out + 1] = {r.id, '', '1'}
				else
					r.a, r.f, r.o, r.i = '0', '', '', ''
					save(r)
					enqueue(r)
					reindex(r, nil)
					queued = queued or r
					out[#out + 1] = {r.id, '', ''}
				end
			end
		end
	end
	if queued then emit(queued, 'enqueued') end
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
			hput(klease(r.o), r.id, leasevalue(r))
		end
		beat(r)
		-- what a heartbeat by digest returns (also for a cancel that a
		-- previous version's library flagged); beat's lastbeat marked
		-- r _tracked if its incarnation's set holds it
		if r._tracked then sadd(kcan(r.o, r.i), r.id) end
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
	for _, s in ipairs_(subs) do
		if s[2] == 'FAILURE' then
			s[2], s[3], s[4] = 'PENDING', '', ''
			failed = true
		end
	end
	if not terminal(r.s) or not failed then return {'nothing'} end
	local from = r.s
	r.u = jencode(subs)
	r.s, r.fi, r.e, r.x, r.o, r.i = 'ONGOING', '', '', '', '', ''
	local grant = tonum(ARGV[A + 1])
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
	zrem(KFIN, id)
	if not r then return end
	rcall('DEL', krec(id))
	zrem(knamestate(r.s, r.n), id)
	if r.k and r.k ~= '' and rcall('HGET', KIDEM, r.k) == id then rcall('HDEL', KIDEM, r.k) end
end

-- DeleteFinished: older than (µs), limit. Also trims the log by age.
local function deletefinished()
	local cutoff = now - tonum(ARGV[A])
	local ids = rcall('ZRANGEBYSCORE', KFIN, '-inf', '(' .. fmt(cutoff), 'LIMIT', 0, tonum(ARGV[A + 1]))
	for _, id in ipairs_(ids) do deleterec(id) end
	trimlog()
	return #ids
end

-- expire deletes up to limit records finished before now - age (the
-- store's own retention, run with Finish and Insert).
local function expire(age, limit)
	if age <= 0 then return end
	flush()
	local ids = rcall('ZRANGEBYSCORE', KFIN, '-inf', '(' .. fmt(now - age), 'LIMIT', 0, limit)
	for _, id in ipairs_(ids) do deleterec(id) end
end

-- Get: id. Returns the record, or {} if there is none.
local function get()
	local r = load(ARGV[A])
	if not r then return {} end
	return reply(beat(r))
end

-- newest returns up to want IDs, newest first, of the union of keys
-- (lex sets of IDs, one per state and name: a record is in one of them)
-- between max and min (ZREVRANGEBYLEX bounds). It reads a few IDs from
-- every key, then only from the keys that may hold more among the
-- newest: about want + 2 × #keys IDs, not want × #keys.
local function newest(keys, max, min, want)
	local k = #keys
	if k == 0 then return {} end
	if k == 1 then return rcall('ZREVRANGEBYLEX', keys[1], max, min, 'LIMIT', 0, want) end
	local c = mmax(2, mfloor((want + k - 1) / k) + 1)
	local got, ids = {}, {}
	for j = 1, k do
		local g = rcall('ZREVRANGEBYLEX', keys[j], max, min, 'LIMIT', 0, c)
		got[j] = g
		for _, id in ipairs_(g) do ids[#ids + 1] = id end
	end
	tsort(ids, function(x, y) return x > y end)
	-- t: the want-th newest read so far; the newest want of the union
	-- are all at or above it. A key that gave c IDs all above t (or any
	-- key that gave c when fewer than want were read) may hold more of
	-- them: read the rest of its range above t.
	local t = ids[want]
	local more = false
	for j = 1, k do
		local g = got[j]
		if #g == c and (not t or g[c] > t) then
			local low = min
			if t then low = '(' .. t end
			for _, id in ipairs_(rcall('ZREVRANGEBYLEX', keys[j], '(' .. g[c], low, 'LIMIT', 0, want)) do
				ids[#ids + 1] = id
			end
			more = true
		end
	end
	if more then tsort(ids, function(x, y) return x > y end) end
	local out = {}
	for j = 1, mmin(want, #ids) do out[j] = ids[j] end
	return out
end

-- statekeys returns the lex sets of the records in state st ('' any)
-- of name ('' any: every name ever stored).
local function statekeys(st, name)
	local names = {name}
	if name == '' then names = rcall('SMEMBERS', knames()) end
	local keys = {}
	for _, s in ipairs_(STATES) do
		if st == '' or st == s then
			for _, n in ipairs_(names) do keys[#keys + 1] = knamestate(s, n) end
		end
	end
	return keys
end

-- List: state ('' any), name ('' any), cursor ('' from the newest),
-- limit, ID prefix ('' any). Returns {records..., next cursor or ''}
-- newest first. IDs sort by creation, so a prefix is a lex range. The
-- records are indexed by state and name only (one sorted set each, no
-- set per state across names: a finish moves two entries, not four), so
-- a page without a name merges the sets of every name (newest).
local function list()
	local st, name, cursor, limit = ARGV[A], ARGV[A + 1], ARGV[A + 2], tonum(ARGV[A + 3])
	local idp = ARGV[A + 4] or ''
	local max, min = '+', '-'
	if cursor ~= '' then max = '(' .. cursor end
	if idp ~= '' then
		min = '[' .. idp
		local top = idp .. '\255'
		if cursor == '' or cursor > top then max = '(' .. top end
	end
	local ids = newest(statekeys(st, name), max, min, limit + 1)
	local out, next = {}, ''
	for j = 1, mmin(limit, #ids) do
		local r = load(ids[j])
		if r then out[#out + 1] = reply(beat(r)) end
	end
	if #ids > limit then next = ids[limit] end
	out[#out + 1] = next
	return out
end

-- Counts: the records in each state, summed over the names (4 ZCARDs,
-- O(1) each, per name).
local function counts()
	local out = {0, 0, 0, 0}
	for _, name in ipairs_(rcall('SMEMBERS', knames())) do
		for j, s in ipairs_(STATES) do out[j] = out[j] + rcall('ZCARD', knamestate(s, name)) end
	end
	return out
end

-- CountsByName: {name, ONGOING, SUCCESS, FAILURE, CANCELLED, ...} for
-- every name ever stored: 4 ZCARDs (O(1) each) per name.
local function countsbyname()
	local out = {}
	for _, name in ipairs_(rcall('SMEMBERS', knames())) do
		out[#out + 1] = name
		for _, s in ipairs_(STATES) do out[#out + 1] = rcall('ZCARD', knamestate(s, name)) end
	end
	return out
end
