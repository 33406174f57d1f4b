-- Server announcements.

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
		if v then out[#out + 1] = {id, v, redis.call('HKEYS', klease(id))} end
	end
	return out
end
