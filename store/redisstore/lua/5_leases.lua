-- Writes under a lease: renew, update, release, finish.

-- Renew: leases as id, owner, incarnation, fence. Returns the indexes
-- (1-based) of the lost ones and the IDs with a cancel request.
local function renew()
	local lost, cancel = {}, {}
	local owned = {} -- owned set key -> {'XX', now, id, now, id, ...}
	local n = 0
	for b = A, #ARGV, 4 do
		n = n + 1
		local id = ARGV[b]
		-- Only fields that are never stored in pieces: no HGETALL needed.
		local v = redis.call('HMGET', krec(id), 's', 'o', 'i', 'f', 'c', 'n', 'q')
		if holds({s = v[1], o = v[2], i = v[3], f = v[4]}, ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]) then
			redis.call('HSET', krec(id), 'h', NOW)
			local key = kowned(kkind(v[6], v[7]))
			local args = owned[key]
			if not args then
				args = {}
				owned[key] = args
			end
			args[#args + 1] = NOW
			args[#args + 1] = id
			if v[5] == '1' then cancel[#cancel + 1] = id end
		else
			lost[#lost + 1] = n
		end
	end
	-- One ZADD XX per owned set (the store's batches are at most 500
	-- leases, within unpack's limit).
	for key, args in pairs(owned) do redis.call('ZADD', key, 'XX', unpack(args)) end
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
