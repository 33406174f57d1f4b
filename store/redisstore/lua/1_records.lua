#!lua name=__LIBRARY__
-- bgtask's Redis store: every operation that reads or changes more than
-- one key is a function of this one Redis Functions library (the files
-- of this directory, joined in name order), so each
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
-- A record's fields: n name, s state, a attempt, m max attempts, o owner,
-- i incarnation, f fence, h heartbeat (µs; while the record is owned the
-- current one is its score in its owned set, see lastbeat), c cancel
-- requested ("1"),
-- p progress ("cur tot msg", "" = zero), u subtasks (JSON array of
-- [key, state, error, progress]), st started (µs), fi finished (µs),
-- e error, x exit code, k idempotency key, q queue kind (priority letter
-- and JSON array of sorted tags), d everything the store never reads
-- (args, creation time, timeouts, tags, priority; opaque here), es the
-- Seq of the newest task event about the record. Seven of them (s a f c
-- x es h) are stored together in one hash field, z (see HOT); the others
-- in a hash field each.

-- The call's arguments and clock, set by main at the start of every call
-- (Redis runs one call at a time).
local ARGV, P, now, NOW, LOGMAX, LOGAGE, RETAIN
local A = 7 -- first argument of the operation

-- The standard functions the library calls, as locals: a call through a
-- global is a lookup in the globals' table (and a second one in the
-- library's: string.sub) every time, an upvalue none. A library's
-- top-level code cannot reach them (its load runs in another
-- environment), so main sets them at its first call (bind).
local rcall, sha1hex, ssub, smatch, sformat, sbyte, sfind, mmin, mmax, mfloor
local tsort, tinsert, tconcat, bxor, tohex, jencode, jdecode
local tonum, tostr, ipairs_, pairs_, unpack_, next_
local function bind()
	rcall, sha1hex = redis.call, redis.sha1hex
	ssub, smatch, sformat, sbyte, sfind = string.sub, string.match, string.format, string.byte, string.find
	mmin, mmax, mfloor = math.min, math.max, math.floor
	tsort, tinsert, tconcat = table.sort, table.insert, table.concat
	bxor, tohex = bit.bxor, bit.tohex
	jencode, jdecode = cjson.encode, cjson.decode
	tonum, tostr, ipairs_, pairs_, unpack_, next_ = tonumber, tostring, ipairs, pairs, unpack, next
end

-- appended is true once the call appended to the log; first and seq are
-- then the first and last Seq it used (the first from INCR P seq, the
-- last written back at the end of the call); expiring is how many
-- finished records the call may delete for RETAIN.
local appended, first, seq, expiring = false, 0, 0, 0

-- HOUSEKEEPING: the log is trimmed and expired records deleted when a
-- call's Seqs cross a multiple of it, not at every call (the log may hold
-- up to LOGMAX + HOUSEKEEPING entries).
local HOUSEKEEPING = 16

-- LENS caches the decimal text of small lengths (Lua formats a number it
-- concatenates with sprintf, a cost on every key and event built).
local LENS = {}
local function L(n)
	local v = LENS[n]
	if v then return v end
	v = sformat('%d', n)
	if n < 4096 then LENS[n] = v end
	return v
end
-- fmt is n's decimal text (small numbers, attempts and fences, from LENS).
local function fmt(n) return LENS[n] or sformat('%d', n) end

local STATES = {'ONGOING', 'SUCCESS', 'FAILURE', 'CANCELLED'}
local function terminal(s) return s == 'SUCCESS' or s == 'FAILURE' or s == 'CANCELLED' end

local KFIN, KIDEM, KSEQ, KLOG, KSRV, KSRVEXP, KHB, KHD -- set by main from P

-- keys
--
-- The keys a batch names for every record (its state, name, kind, owner
-- and incarnation) are built once per call: the C* caches, emptied by
-- resetkeys at the start of every call (the prefix is the call's).
local CNS, CKIND, CQ, CLEASE, CIKEY, CINC
-- LISENTED[key]: the call has written LISENT into the incarnation's set
-- key (own).
local LISENTED
local function resetkeys() CNS, CKIND, CQ, CLEASE, CIKEY, CINC, LISENTED = {}, {}, {}, {}, {}, {}, {} end

-- memo1 returns cache[a], built by build(a) if missing; memo2
-- cache[a][b], built by build(a, b). (The key functions below look in
-- their cache first: a hit costs one call, not two.)
local function memo1(cache, a, build)
	local v = cache[a]
	if not v then
		v = build(a)
		cache[a] = v
	end
	return v
end
local function memo2(cache, a, b, build)
	local t = cache[a]
	if not t then
		t = {}
		cache[a] = t
	end
	local v = t[b]
	if not v then
		v = build(a, b)
		t[b] = v
	end
	return v
end

local function krec(id) return P .. 't:' .. id end
local function buildnamestate(s, name) return P .. 'ns:' .. s .. ':' .. name end
local function knamestate(s, name)
	local t = CNS[s]
	return t and t[name] or memo2(CNS, s, name, buildnamestate)
end
local function buildkind(name, q) return L(#name) .. ':' .. name .. ':' .. q end
local function kkind(name, q)
	local t = CKIND[name]
	return t and t[q] or memo2(CKIND, name, q, buildkind)
end
local function buildqueue(kind) return P .. 'q:' .. kind end
local function kqueue(kind) return CQ[kind] or memo1(CQ, kind, buildqueue) end
local function kowned(kind) return P .. 'o:' .. kind end
local function kkinds(name) return P .. 'qs:' .. name end
-- knames is the set of task names ever stored (for CountsByName).
local function knames() return P .. 'names' end
local function buildlease(owner) return P .. 'l:' .. owner end
local function klease(owner) return CLEASE[owner] or memo1(CLEASE, owner, buildlease) end
-- An incarnation's own keys are named by ikey: owner and incarnation,
-- the owner preceded by its length.
local function buildikey(owner, inc) return L(#owner) .. ':' .. owner .. ':' .. inc end
local function ikey(owner, inc)
	local t = CIKEY[owner]
	return t and t[inc] or memo2(CIKEY, owner, inc, buildikey)
end
-- kinc is the sorted set of the records an incarnation holds (score: the
-- record's own heartbeat, µs); kcan the set of those with a pending
-- cancel. KHB (P hb: ikey -> the incarnation's heartbeat, µs) and KHD
-- (P hd: ikey -> digest of its held leases) are set by main.
local function buildinc(owner, inc) return P .. 'li:' .. ikey(owner, inc) end
local function kinc(owner, inc)
	local t = CINC[owner]
	return t and t[inc] or memo2(CINC, owner, inc, buildinc)
end
local function kcan(owner, inc) return P .. 'lc:' .. ikey(owner, inc) end
-- LISENT is a member every incarnation's set gets beside its records,
-- with the score +inf (no heartbeat is that late: never an orphan): a
-- member longer than 64 bytes makes Redis keep the set as a skip list
-- with a hash table (by default a set of up to 128 short members is one
-- packed list, where every ZADD, ZREM and ZSCORE of a server running 100
-- tasks walks 100 entries: 6 % of the Redis time of a drain). Counting
-- records is ZCOUNT below +inf (lirecords); the set is deleted with its
-- last record.
local LISENT = '~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~' -- (72 bytes)
local function lirecords(key) return rcall('ZCOUNT', key, '-inf', '(+inf') end

-- Index writes are collected during a call and written by flush, one
-- ZADD, ZREM, SADD or SREM per key and call however many records the
-- call changes (a batch of 100 finishes moves 100 entries between the
-- state sets in four commands, not 400). zpend[key][member] is the
-- member's final score, or false to remove it; spend[key][member] is true
-- to add, false to remove. Whatever reads an index key in a call flushes
-- first, so a call sees its own writes.
local zpend, spend, hpend = {}, {}, {}

local function zset(key, member, score)
	local m = zpend[key]
	if not m then
		m = {}
		zpend[key] = m
	end
	m[member] = score
end
local function zadd(key, score, member)
	local m = zpend[key]
	if m then m[member] = score else zset(key, member, score) end
end
local function zrem(key, member)
	local m = zpend[key]
	if m then m[member] = false else zset(key, member, false) end
end
local function sset(key, member, add)
	local m = spend[key]
	if not m then
		m = {}
		spend[key] = m
	end
	m[member] = add
end
local function sadd(key, member) sset(key, member, true) end
local function srem(key, member) sset(key, member, false) end
-- hpend[key][field] is the field's final value, or false to delete it.
local function hput(key, field, value)
	local m = hpend[key]
	if not m then
		m = {}
		hpend[key] = m
	end
	m[field] = value
end

-- BULK bounds the arguments of one command written by flush (Lua's
-- unpack has a limit of a few thousand values).
local BULK = 1000

local function bulk(cmd, key, args)
	for j = 1, #args, BULK do
		rcall(cmd, key, unpack_(args, j, mmin(j + BULK - 1, #args)))
	end
end

-- applyPending writes one kind of pending change: pend maps a key to
-- {k = v}; v false removes k (remCmd), any other v adds it (addCmd, with
-- the arguments shape names: 'z' score and member, 'h' field and value,
-- 's' the member alone).
local function applyPending(pend, addCmd, remCmd, shape)
	for key, m in pairs_(pend) do
		local add, rem, na, nr = {}, {}, 0, 0
		for k, v in pairs_(m) do
			if not v then
				nr = nr + 1
				rem[nr] = k
			elseif shape == 'z' then
				add[na + 1], add[na + 2] = v, k
				na = na + 2
			elseif shape == 'h' then
				add[na + 1], add[na + 2] = k, v
				na = na + 2
			else
				na = na + 1
				add[na] = k
			end
		end
		if nr > 0 then bulk(remCmd, key, rem) end
		if na > 0 then bulk(addCmd, key, add) end
	end
end

-- incpend[ikey] = {owner, inc, lane a, lane b}: the XOR of the lease
-- hashes of the records that entered or left the incarnation's holding
-- during the call, applied to its digest by applyinc.
local incpend = {}

-- leasehash is a lease's 64-bit hash, as two 32-bit lanes: the first 16
-- hex digits of SHA-1("ID FENCE") (the store's client computes the same).
local function leasehash(id, fence)
	local h = sha1hex(id .. ' ' .. fence)
	return tonum(ssub(h, 1, 8), 16), tonum(ssub(h, 9, 16), 16)
end

-- incxor records that the lease (id, fence) entered or left the holding
-- of owner/inc (id nil: only mark the incarnation for applyinc); ha and
-- hb are the lease's hash when the caller has it (else computed).
local function incxor(owner, inc, id, fence, ha, hb)
	local k = ikey(owner, inc)
	local e = incpend[k]
	if not e then
		e = {owner, inc, 0, 0}
		incpend[k] = e
	end
	if id then
		local a, b = ha, hb
		if not a or not b then a, b = leasehash(id, fence or '') end
		e[3], e[4] = bxor(e[3], a), bxor(e[4], b)
	end
end

local flush

-- applyinc writes the pending digest changes: an incarnation that holds
-- nothing any more loses its heartbeat and digest; one that
-- held nothing before enters P hb with the call's time (no record it
-- holds is older).
local function applyinc()
	if next_(incpend) == nil then return end
	flush()
	for k, e in pairs_(incpend) do
		local owner, inc = e[1], e[2]
		local li = kinc(owner, inc)
		if lirecords(li) == 0 then
			-- (its cancel set emptied as its records left)
			rcall('DEL', li)
			rcall('ZREM', KHB, k)
			rcall('HDEL', KHD, k)
		else
			local d = rcall('HGET', KHD, k)
			local a, b = 0, 0
			if d then
				a, b = tonum(ssub(d, 1, 8), 16), tonum(ssub(d, 9, 16), 16)
			else
				rcall('ZADD', KHB, 'NX', NOW, k)
			end
			if not d or e[3] ~= 0 or e[4] ~= 0 then
				rcall('HSET', KHD, k, tohex(bxor(a, e[3]), 8) .. tohex(bxor(b, e[4]), 8))
			end
		end
	end
	incpend = {}
end

flush = function()
	applyPending(zpend, 'ZADD', 'ZREM', 'z')
	applyPending(spend, 'SADD', 'SREM', 's')
	applyPending(hpend, 'HSET', 'HDEL', 'h')
	zpend, spend, hpend = {}, {}, {}
end

-- register adds r's queue kind to its name's registry of tagged kinds
-- (untagged kinds, n[] and i[], are always looked at: not registered).
local function register(r)
	if r.q ~= 'n[]' and r.q ~= 'i[]' then sadd(kkinds(r.n), r.q) end
end

-- records
--
-- Values longer than CHUNK bytes of the fields in CHUNKED (which the
-- library never reads by HGET) are stored in CHUNK-byte pieces: f, f2,
-- f3, ... so that a record's hash stays a compact listpack (Redis keeps
-- a hash as a listpack while every value is at most
-- hash-max-listpack-value, 64 by default, bytes).
local CHUNK = 64
local CHUNKED = {d = true, u = true, p = true, e = true}
-- MAXPIECES: a value longer than MAXPIECES pieces is stored whole (the
-- hash is past a listpack's 128 entries anyway).
local MAXPIECES = 32

-- FIELDS are the fields stored in a hash field each.
local FIELDS = {'n', 'm', 'o', 'i', 'p', 'u', 'st', 'fi', 'e', 'k', 'q', 'd'}
-- HOT: the fields stored together in z (a set): a claim or a finish reads
-- and writes one short value instead of seven fields (the cost of a
-- hash field, in Redis and in the Lua that moves it, is most of the
-- cost of those paths). Owner and incarnation (any length) and the start
-- and end times (one path each) keep a field each, so that z stays under
-- the 64 bytes of a compact hash value. Records written before z existed
-- hold the hot fields in a field each (load reads both; save moves them
-- into z).
local HOT = {s = true, a = true, f = true, c = true, x = true, es = true, h = true}
-- PLAIN: the fields above (not pieces), written out: a library's
-- top-level code runs before the standard functions are reachable.
local PLAIN = {n = true, s = true, a = true, m = true, o = true, i = true, f = true, h = true, c = true, p = true,
	u = true, st = true, fi = true, e = true, x = true, k = true, q = true, d = true, es = true}

-- packhot returns z for r: s, a, f, c, x, es and h joined by '|' (none of
-- them can hold one: a state, numbers, '1'); an empty field is ''.
local function packhot(r)
	return (r.s or '') .. '|' .. (r.a or '') .. '|' .. (r.f or '') .. '|' .. (r.c or '') .. '|' .. (r.x or '') .. '|' ..
		(r.es or '') .. '|' .. (r.h or '')
end

local ZPAT = '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$'

-- unpackhot sets r's hot fields from z (an empty one to nil). It
-- returns false for a value that is not a z.
local function unpackhot(r, z)
	local s, a, f, c, x, es, h = smatch(z, ZPAT)
	if not s then return false end
	if a == '' then a = nil end
	if f == '' then f = nil end
	if c == '' then c = nil end
	if x == '' then x = nil end
	if es == '' then es = nil end
	if h == '' then h = nil end
	r.s, r.a, r.f, r.c, r.x, r.es, r.h = s, a, f, c, x, es, h
	return true
end

-- load returns the record id (nil if none), its fields joined, with
-- _old, what is stored (field -> value, pieces separate), _joined (see
-- below), and _raw, the stored
-- hash as HGETALL returned it (what reply sends back, with _set, the
-- writes since, after it).
local function load(id, flat)
	flat = flat or rcall('HGETALL', krec(id))
	if #flat == 0 then return nil end
	local r, old, parts = {id = id}, {}, nil
	for j = 1, #flat, 2 do
		local f, v = flat[j], flat[j + 1]
		if PLAIN[f] then
			r[f] = v
		elseif f == 'z' then
			-- (applied below: z wins over a field of the old layout)
		else
			local base, n = smatch(f, '^([dupe])(%d+)$')
			if base then
				parts = parts or {}
				parts[#parts + 1] = {base, tonum(n), v}
			end
		end
		old[f] = v
	end
	if parts then
		if #parts > 1 then
			tsort(parts, function(x, y)
				if x[1] ~= y[1] then return x[1] < y[1] end
				return x[2] < y[2]
			end)
		end
		for _, pt in ipairs_(parts) do r[pt[1]] = r[pt[1]] .. pt[3] end
	end
	if old.z then unpackhot(r, old.z) end
	-- _joined: the stored values of the fields that have pieces, joined
	-- (save compares with it; the other fields' are in _old)
	local joined = {}
	if parts then
		for _, pt in ipairs_(parts) do joined[pt[1]] = r[pt[1]] end
	end
	r._old, r._joined, r._raw, r._set = old, joined, flat, {}
	return r
end

-- newrec returns a record table for id with room for every field a hot
-- path sets, newold one for what is stored of it (z and the fields a
-- lean load reads): a table built up key by key is rehashed at 1, 2, 4,
-- 8 and 16 keys, most of the cost of reading a record into Lua. (A
-- constructor sizes the table for all the keys it names, nil ones too.)
local function newrec(id)
	return {id = id, n = nil, q = nil, m = nil, u = nil, p = nil, e = nil, o = nil, i = nil,
		s = nil, a = nil, f = nil, c = nil, x = nil, es = nil, h = nil, st = nil, fi = nil,
		_old = nil, _lean = nil, _raw = nil, _set = nil, _tracked = nil, _ha = nil, _hb = nil}
end
local function newold(z)
	return {z = z, n = nil, q = nil, m = nil, u = nil, p = nil, e = nil, o = nil, i = nil, st = nil, fi = nil}
end

-- leanload is load for the hot paths (a finish): it reads z and the
-- fields in names (HMGET, no parsing of the whole hash, no copy of it
-- kept) and falls back to load when a field the path may change may be
-- stored in pieces (a long progress, subtask list or error: its first
-- piece, or the whole value, is CHUNK bytes or more) or the record has
-- no z (written before z existed). Its record has no _raw: reply would
-- not know the fields it did not read, so a caller that must return the
-- record reads it afresh (rawreply).
-- LEANARGS[names] is leanload's HMGET fields for names (a constant
-- table of its callers): z, then names.
local LEANARGS = {}
local function leanload(id, names)
	local key = krec(id)
	local n = #names
	local args = LEANARGS[names]
	if not args then
		args = {'z'}
		for j = 1, n do args[j + 1] = names[j] end
		LEANARGS[names] = args
	end
	local vals = rcall('HMGET', key, unpack_(args))
	-- (no z: no record, or one of the old layout)
	if not vals[1] then return load(id) end
	local r, old = newrec(id), newold(vals[1])
	for j = 1, n do
		local v = vals[j + 1]
		if v then
			local f = names[j]
			if CHUNKED[f] and #v >= CHUNK then return load(id) end
			r[f] = v
			old[f] = v
		end
	end
	if not unpackhot(r, vals[1]) then return load(id) end
	r._old, r._lean = old, true
	return r
end

-- PIECED are the pieces after which a lean record is not lean: the
-- second piece of a field a hot path may change.
local PIECED = {p2 = true, u2 = true, e2 = true}

-- wholeload is leanload for a path that answers with the whole record (a
-- claim): one HGETALL, which reply sends back with the writes since
-- (_raw and _set), of which only the fields in want (a set) are kept
-- in r and _old, with z. Like leanload it falls back to load when a
-- field the path may change is stored in pieces or there is no z.
local function wholeload(id, want)
	local flat = rcall('HGETALL', krec(id))
	if #flat == 0 then return nil end
	local r, old = newrec(id), newold(nil)
	for j = 1, #flat, 2 do
		local f = flat[j]
		if want[f] then
			local v = flat[j + 1]
			r[f] = v
			old[f] = v
		elseif f == 'z' then
			old.z = flat[j + 1]
		elseif PIECED[f] then
			return load(id, flat)
		end
	end
	if not old.z or not unpackhot(r, old.z) then return load(id, flat) end
	-- (_set: room for the writes of a claim, see newold)
	r._old, r._lean, r._raw, r._set = old, true, flat, {nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil}
	return r
end

-- rawreply is reply for a record read by leanload: the stored hash as
-- it is now, id first (the store's decoder joins pieces and drops
-- empty values).
local function rawreply(r)
	local out = rcall('HGETALL', krec(r.id))
	tinsert(out, 1, r.id)
	return out
end

local function empty(v) return v == nil or v == '' or v == false end

-- pieces adds to out the hash fields that store value v of field f.
local function pieces(f, v, out)
	if not CHUNKED[f] or #v <= CHUNK or #v > CHUNK * MAXPIECES then
		out[f] = v
		return
	end
	out[f] = ssub(v, 1, CHUNK)
	local k = 2
	for pos = CHUNK + 1, #v, CHUNK do
		out[f .. k] = ssub(v, pos, pos + CHUNK - 1)
		k = k + 1
	end
end

-- save writes the fields of r that changed since load (a new record: all
-- of them) and deletes the pieces no longer needed. A field emptied by
-- the change is written as '' when the change has an HSET anyway (one
-- command, not an HSET and an HDEL). The writes are added to r._set for
-- reply.
local function save(r)
	local old, joined = r._old or {}, r._joined or {}
	local set, del, emptied = {}, {}, {}
	for _, f in ipairs_(FIELDS) do
		local v = r[f]
		if empty(v) then v = nil else v = tostr(v) end
		local was = joined[f] or old[f]
		if was == '' then was = nil end
		if v ~= was then
			if v == nil then
				emptied[#emptied + 1] = {f, was}
			elseif not CHUNKED[f] or (#v <= CHUNK and (not was or #was <= CHUNK)) then
				-- one field, no pieces before or after
				set[#set + 1] = f
				set[#set + 1] = v
			else
				local want = {}
				pieces(f, v, want)
				for pf, pv in pairs_(want) do
					if old[pf] ~= pv then
						set[#set + 1] = pf
						set[#set + 1] = pv
					end
				end
				-- stored pieces of the old value that the new one does not have
				for k = 2, 1000000 do
					if old[f .. k] == nil then break end
					if want[f .. k] == nil then del[#del + 1] = f .. k end
				end
			end
			if CHUNKED[f] then joined[f] = v end
		end
	end
	local z = packhot(r)
	if z ~= old.z then
		set[#set + 1] = 'z'
		set[#set + 1] = z
	end
	-- a record of the old layout: its hot fields are in z now
	for f in pairs_(HOT) do
		if old[f] ~= nil then del[#del + 1] = f end
	end
	for _, e in ipairs_(emptied) do
		local f, was = e[1], e[2]
		if #set > 0 then
			set[#set + 1] = f
			set[#set + 1] = ''
		else
			del[#del + 1] = f
		end
		if CHUNKED[f] then
			for k = 2, 1000000 do
				if old[f .. k] == nil then break end
				del[#del + 1] = f .. k
			end
		end
	end
	local key = krec(r.id)
	-- (in commands of at most BULK arguments: Lua's unpack has a limit)
	if #del > 0 then bulk('HDEL', key, del) end
	if #set > 0 then bulk('HSET', key, set) end
	-- what is stored now
	for j = 1, #set, 2 do old[set[j]] = set[j + 1] end
	for _, f in ipairs_(del) do old[f] = nil end
	r._old, r._joined = old, joined
	if r._raw then
		local out = r._set
		for j = 1, #set do out[#out + 1] = set[j] end
		for _, f in ipairs_(del) do
			-- (a hot field of the old layout moved into z, which the
			-- reader applies where it comes: not emptied)
			if not HOT[f] then
				out[#out + 1] = f
				out[#out + 1] = ''
			end
		end
	end
end

-- reply is the record as a flat field/value list with its id first: what
-- load read, then what save wrote since (a later field wins; pieces are
-- joined and empty values dropped by the store's decoder), or for a new
-- record its fields.
local function reply(r)
	if r._lean and not r._raw then return rawreply(r) end
	if r._raw then
		-- (the record is not used after its reply: _raw is reused)
		local out = r._raw
		tinsert(out, 1, r.id)
		for _, v in ipairs_(r._set) do out[#out + 1] = v end
		r._raw = nil
		return out
	end
	local out = {r.id, 'z', packhot(r)}
	for _, f in ipairs_(FIELDS) do
		local v = r[f]
		if v ~= nil and v ~= '' and v ~= false then
			out[#out + 1] = f
			out[#out + 1] = tostr(v)
		end
	end
	return out
end

local function num(v) return tonum(v) or 0 end

-- index moves r from state 'from' (nil: new) to r.s.
local function reindex(r, from)
	if from == r.s then return end
	if from then
		zrem(knamestate(from, r.n), r.id)
	else
		sadd(knames(), r.n)
	end
	zadd(knamestate(r.s, r.n), 0, r.id)
	if terminal(r.s) then
		zadd(KFIN, r.fi, r.id)
	elseif from and terminal(from) then
		zrem(KFIN, r.id)
	end
end

local function enqueue(r)
	local kind = kkind(r.n, r.q)
	register(r)
	zadd(kqueue(kind), 0, r.id)
end

-- leasevalue is r's entry in its owner's lease hash (P l:OWNER): the
-- cancel flag ('1' or '0'), then FENCE:LEN:INCARNATION (what Renew
-- compares with the lease it is given), then r's queue kind (which owned
-- set holds its heartbeat).
local function leasevalue(r)
	local c = '0'
	if r.c == '1' then c = '1' end
	return c .. r.f .. ':' .. L(#r.i) .. ':' .. r.i .. kkind(r.n, r.q)
end

-- lastbeat returns r's last heartbeat (µs): while it is owned, the later
-- of its own score in its incarnation's set (a claim, a renewal of that
-- lease) and the incarnation's heartbeat (a renewal that named exactly
-- the leases it held); else the record's h. A record owned through a
-- previous version's library has its score in the owned set of its
-- kind (P o:KIND) instead. It sets r._tracked: whether r is in its
-- incarnation's set (what unown undoes).
local function lastbeat(r)
	if r.o and r.o ~= '' then
		local inc = r.i or ''
		local sc = rcall('ZSCORE', kinc(r.o, inc), r.id)
		r._tracked = sc ~= false
		if sc then
			local v = tonum(sc)
			local hb = rcall('ZSCORE', KHB, ikey(r.o, inc))
			if hb and tonum(hb) > v then v = tonum(hb) end
			return fmt(v)
		end
		sc = rcall('ZSCORE', kowned(kkind(r.n, r.q)), r.id)
		if sc then return fmt(tonum(sc)) end
	end
	return r.h
end

-- beat makes reply(r) of an owned record carry its last heartbeat
-- (lastbeat; not saved: Renew keeps it in the owned set only).
local function beat(r)
	if r.o and r.o ~= '' and r._set then
		local h = lastbeat(r)
		if h and h ~= r.h then
			local out = r._set
			out[#out + 1] = 'h'
			out[#out + 1] = h
		end
	end
	return r
end

-- own adds r to its incarnation's holding (set, digest, cancels) and
-- its owner's lease hash.
local function own(r)
	local li = kinc(r.o, r.i)
	if not LISENTED[li] then
		-- (now, once per set and call, not with the call's pending ZADD
		-- of records: a set that ZADD creates is a skip list when its
		-- first member is long)
		rcall('ZADD', li, '+inf', LISENT)
		LISENTED[li] = true
	end
	zadd(li, r.h, r.id)
	hput(klease(r.o), r.id, leasevalue(r))
	incxor(r.o, r.i, r.id, r.f)
	if r.c == '1' then sadd(kcan(r.o, r.i), r.id) end
end

-- unown removes r from the queue and owner indexes it is in.
local function unown(r)
	local kind = kkind(r.n, r.q)
	if r.o and r.o ~= '' then
		local inc = r.i or ''
		if r._tracked == nil then r._tracked = rcall('ZSCORE', kinc(r.o, inc), r.id) ~= false end
		if r._tracked then
			zrem(kinc(r.o, inc), r.id)
			incxor(r.o, inc, r.id, r.f, r._ha, r._hb)
			if r.c == '1' then srem(kcan(r.o, inc), r.id) end
		else
			-- owned through a previous version's library
			zrem(kowned(kind), r.id)
		end
		hput(klease(r.o), r.id, false)
	else
		zrem(kqueue(kind), r.id)
	end
end

-- holding reports whether the incarnation owner/inc holds count records
-- whose leases have that digest (16 hex digits, see leasehash): exactly
-- the leases a caller with that count and digest has.
local function holding(owner, inc, count, digest)
	return lirecords(kinc(owner, inc)) == count and rcall('HGET', KHD, ikey(owner, inc)) == digest
end

local function holds(r, owner, inc, fence)
	return r ~= nil and r.s == 'ONGOING' and r.o ~= nil and r.o ~= '' and r.o == owner and r.i == inc and r.f == fence
end

-- NOSUBS: subtasks' answer for a record without any (never changed).
local NOSUBS = {}
local function subtasks(r)
	if not r.u or r.u == '' then return NOSUBS end
	return jdecode(r.u)
end
