-- The operations and the one function Redis calls.

local OPS = {
	insert = insert, claim = claim, recover = recover, holdsexactly = holdsexactly, renew = renew, heartbeat = heartbeat, update = update,
	release = release, finish = finishall, cancel = cancel, retry = retry,
	deletefinished = deletefinished, get = get, list = list, counts = counts, countsbyname = countsbyname,
	announce = announce, withdraw = withdraw, servers = servers,
}

local function main(_, args)
	if not rcall then bind() end
	ARGV = args
	P = ARGV[2]
	now = tonum(ARGV[3])
	if not now then
		local t = rcall('TIME')
		now = tonum(t[1]) * 1000000 + tonum(t[2])
	end
	NOW = fmt(now)
	LOGMAX, LOGAGE, RETAIN = tonum(ARGV[4]), tonum(ARGV[5]), tonum(ARGV[6])
	KFIN, KIDEM, KSEQ, KLOG = P .. 'fin', P .. 'idem', P .. 'seq', P .. 'log'
	KSRV, KSRVEXP = P .. 'srv', P .. 'srvexp'
	KHB, KHD = P .. 'hb', P .. 'hd'
	appended, first, seq, expiring = false, 0, 0, 0
	resetkeys()
	local f = OPS[ARGV[1]]
	if not f then return redis.error_reply('bgtask: unknown operation ' .. tostr(ARGV[1])) end
	zpend, spend, hpend, incpend = {}, {}, {}, {}
	pending = {}
	local result = f()
	writelog()
	applyinc()
	flush()
	-- Twice the records written since the last time: retention keeps up
	-- with any rate.
	if RETAIN > 0 and expiring > 0 and housekeeping() then expire(RETAIN, 2 * (expiring + HOUSEKEEPING)) end
	flush()
	return result
end

redis.register_function('__LIBRARY__', main)
