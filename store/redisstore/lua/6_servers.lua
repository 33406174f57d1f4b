-- Server announcements.

-- Announce: id, ttl (µs), info JSON.
local function announce()
	local id = ARGV[A]
	rcall('ZADD', KSRVEXP, now + tonum(ARGV[A + 1]), id)
	rcall('HSET', KSRV, id, NOW .. ' ' .. ARGV[A + 2])
	return 1
end

-- Withdraw: id, incarnation.
local function withdraw()
	local id, inc = ARGV[A], ARGV[A + 1]
	local v = rcall('HGET', KSRV, id)
	if not v then return 0 end
	local info = jdecode(ssub(v, sfind(v, ' ') + 1))
	if info.incarnation ~= inc then return 0 end
	rcall('HDEL', KSRV, id)
	rcall('ZREM', KSRVEXP, id)
	return 1
end

-- Servers: returns {id, "seen json", running ids} per live server; drops
-- the ones that expired.
local function servers()
	for _, id in ipairs_(rcall('ZRANGEBYSCORE', KSRVEXP, '-inf', '(' .. NOW)) do
		rcall('HDEL', KSRV, id)
		rcall('ZREM', KSRVEXP, id)
	end
	local out = {}
	for _, id in ipairs_(rcall('ZRANGEBYSCORE', KSRVEXP, NOW, '+inf')) do
		local v = rcall('HGET', KSRV, id)
		if v then out[#out + 1] = {id, v, rcall('HKEYS', klease(id))} end
	end
	return out
end
