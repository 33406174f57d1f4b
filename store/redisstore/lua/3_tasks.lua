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
	zrem(kstate(r.s), id)
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

-- List: state ('' any), name ('' any), cursor ('' from the newest),
-- limit, ID prefix ('' any). Returns {records..., next cursor or ''}
-- newest first. IDs sort by creation, so a prefix is a lex range.
local function list()
	local st, name, cursor, limit = ARGV[A], ARGV[A + 1], ARGV[A + 2], tonum(ARGV[A + 3])
	local idp = ARGV[A + 4] or ''
	local keys = {}
	for _, s in ipairs_(STATES) do
		if st == '' or st == s then
			if name == '' then keys[#keys + 1] = kstate(s) else keys[#keys + 1] = knamestate(s, name) end
		end
	end
	local max, min = '+', '-'
	if cursor ~= '' then max = '(' .. cursor end
	if idp ~= '' then
		min = '[' .. idp
		local top = idp .. '\255'
		if cursor == '' or cursor > top then max = '(' .. top end
	end
	local ids = {}
	for _, key in ipairs_(keys) do
		for _, id in ipairs_(rcall('ZREVRANGEBYLEX', key, max, min, 'LIMIT', 0, limit + 1)) do ids[#ids + 1] = id end
	end
	tsort(ids, function(x, y) return x > y end)
	local out, next = {}, ''
	for j = 1, mmin(limit, #ids) do
		local r = load(ids[j])
		if r then out[#out + 1] = reply(beat(r)) end
	end
	if #ids > limit then next = ids[limit] end
	out[#out + 1] = next
	return out
end

local function counts()
	local out = {}
	for _, s in ipairs_(STATES) do out[#out + 1] = rcall('ZCARD', kstate(s)) end
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
