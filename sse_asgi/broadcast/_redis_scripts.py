"""What runs inside Redis: the Lua scripts of the Redis backend, each one atomic.

Keys, under the backend's prefix ``P``:

- ``P state`` (hash): ``epoch``, a random token naming this dataset, and
  ``last``, the newest position. Both are lost with the data (a restart
  without persistence, ``FLUSHALL``, a failover that missed writes): the next
  script creates a new epoch, so that no id from before can resume silently.
- ``P live`` (stream): every event, with its ``topic``, ``epoch`` and the
  ``previous_id`` of the entry before it, trimmed to the last
  ``live_backlog`` entries. Every worker's one reader follows it with a
  constant-size ``XREAD``; its ids are the positions.
- ``P stream:<topic>`` (stream): one topic's history -- the replay source --
  under the same ids as in ``P live``, each entry with the ``previous_id`` of
  the topic's entry before it (so the first entry kept says whether anything
  after a position was trimmed). ``P meta:<topic>`` (hash): the generation's
  ``epoch``, ``created`` (the position before its first event), ``last`` and
  ``bytes``.
- ``P deaths`` (hash, at most 4096 fields): per tombstone bucket, the newest
  ``last`` of a generation that was deleted.

Ids are compared as canonical decimal strings (``ms-seq``), never as Lua
numbers (doubles), which cannot hold every 64-bit sequence number.
"""

from __future__ import annotations

__all__ = ["DELETE", "PUBLISH", "READ"]

_HELPERS = """
local function split(id)
  return string.match(id, '^(%d+)-(%d+)$')
end

local function numcmp(a, b)
  if #a ~= #b then return #a < #b and -1 or 1 end
  for i = 1, #a, 15 do
    local x, y = tonumber(string.sub(a, i, i + 14)), tonumber(string.sub(b, i, i + 14))
    if x ~= y then return x < y and -1 or 1 end
  end
  return 0
end

local function cmp(a, b)
  local am, as = split(a)
  local bm, bs = split(b)
  local c = numcmp(am, bm)
  if c ~= 0 then return c end
  return numcmp(as, bs)
end

-- The dataset's epoch and newest position, created if missing (with the
-- caller's fresh random candidate: Lua's own random numbers repeat).
local function state(key, candidate)
  local s = redis.call('HMGET', key, 'epoch', 'last')
  if s[1] then return s[1], s[2] end
  redis.call('HSET', key, 'epoch', candidate, 'last', '0-0')
  return candidate, '0-0'
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function ms_text(ms)
  return string.format('%.0f', ms)
end

local function field(fields, name)
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end

-- The bytes of an entry's event fields (what max_bytes bounds).
local function size_of(fields)
  local size = 0
  for i = 1, #fields, 2 do
    if fields[i] ~= 'previous_id' then size = size + #fields[i + 1] end
  end
  return size
end

local function bury(deaths, bucket, id)
  local old = redis.call('HGET', deaths, bucket)
  if not old or cmp(old, id) < 0 then redis.call('HSET', deaths, bucket, id) end
end

-- What is left of a topic that is not a live generation of this epoch (a
-- half evicted by memory pressure, say): its newest id, if it may be ours.
local function leftover(stream, meta, epoch, last)
  if meta[1] == epoch and meta[3] then return meta[3] end
  if meta[1] then return nil end -- another epoch's: no id of ours points into it
  local newest = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
  if newest[1] and cmp(newest[1][1], last) <= 0 then return newest[1][1] end
  return nil
end
"""

# KEYS: state, live, stream, meta, deaths
# ARGV: epoch candidate, topic, history, live_backlog, max_age ms or '',
#       max_bytes or '', bucket, then the event's fields (name, value, ...)
PUBLISH = (
    _HELPERS
    + """
local epoch, last = state(KEYS[1], ARGV[1])
local meta = redis.call('HMGET', KEYS[4], 'epoch', 'created', 'last', 'bytes')
local exists = redis.call('EXISTS', KEYS[3]) == 1
local alive = meta[1] == epoch and exists
if not alive then
  -- A new generation. Whatever is left of an earlier one dies here, recorded.
  if meta[1] or exists then
    local dead = leftover(KEYS[3], meta, epoch, last)
    if dead then bury(KEYS[5], ARGV[7], dead) end
    redis.call('DEL', KEYS[3], KEYS[4])
  end
end
local fields = {}
for i = 8, #ARGV do fields[#fields + 1] = ARGV[i] end

-- The position: Redis's next id in the live stream.
local args = {'XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*',
              'topic', ARGV[2], 'epoch', epoch, 'previous_id', last}
for _, v in ipairs(fields) do args[#args + 1] = v end
local id = redis.call(unpack(args))
if cmp(id, last) <= 0 then
  -- The live stream was lost but not the state, and the clock went back:
  -- positions must still grow.
  redis.call('XDEL', KEYS[2], id)
  local ms, seq = split(last)
  id = ms .. '-' .. ms_text(tonumber(seq) + 1)
  args[6] = id
  redis.call(unpack(args))
end

local created, previous, bytes = last, '0-0', 0
if alive then
  created, previous, bytes = meta[2], meta[3], tonumber(meta[4] or '0')
end
local targs = {'XADD', KEYS[3], id, 'previous_id', previous}
for _, v in ipairs(fields) do targs[#targs + 1] = v end
redis.call(unpack(targs))

-- Retention: history (entries), max_age, max_bytes.
local history = tonumber(ARGV[3])
local cutoff = nil
if ARGV[5] ~= '' then cutoff = now_ms() - tonumber(ARGV[5]) end
if ARGV[6] == '' then
  redis.call('XTRIM', KEYS[3], 'MAXLEN', history)
  if cutoff then redis.call('XTRIM', KEYS[3], 'MINID', ms_text(cutoff) .. '-0') end
else
  local max_bytes = tonumber(ARGV[6])
  if not alive or not meta[4] then
    bytes = 0 -- counted from scratch (new, or kept under another configuration)
    for _, e in ipairs(redis.call('XRANGE', KEYS[3], '-', '+')) do
      bytes = bytes + size_of(e[2])
    end
  else
    bytes = bytes + size_of(fields)
  end
  local length = redis.call('XLEN', KEYS[3])
  local removed, keep, start = 0, nil, '-'
  while not keep do
    local batch = redis.call('XRANGE', KEYS[3], start, '+', 'COUNT', 64)
    for _, e in ipairs(batch) do
      local old = cutoff and numcmp(split(e[1]), ms_text(cutoff)) < 0
      if length - removed > history or bytes > max_bytes or old then
        removed = removed + 1
        bytes = bytes - size_of(e[2])
      else
        keep = e[1]
        break
      end
    end
    if keep or #batch < 64 then break end
    start = '(' .. batch[#batch][1]
  end
  if removed > 0 then
    if keep then redis.call('XTRIM', KEYS[3], 'MINID', keep)
    else redis.call('XTRIM', KEYS[3], 'MAXLEN', 0) end
  end
end
redis.call('HSET', KEYS[4], 'epoch', epoch, 'created', created, 'last', id, 'bytes', bytes)
if ARGV[6] == '' then redis.call('HDEL', KEYS[4], 'bytes') end
redis.call('HSET', KEYS[1], 'last', id)
if ARGV[5] ~= '' then
  -- An idle topic is gone max_age after its last event: all of it is older.
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
  redis.call('PEXPIRE', KEYS[4], ARGV[5])
end
return {epoch, id}
"""
)

# KEYS: state, deaths, then per topic: stream, meta
# ARGV: epoch candidate, the position's epoch ('' for none: just the state),
#       its id, limit, max_bytes, newest ('1' or '0'), max_age ms or '',
#       then per topic: bucket
# Returns {epoch, last, status} with status 'unknown' or 'expired', or
# {epoch, last, 'ok', position, complete, then per entry: topic index, id, fields}.
READ = (
    _HELPERS
    + """
local epoch, last = state(KEYS[1], ARGV[1])
if ARGV[2] == '' then return {epoch, last, 'ok', last, '1'} end
local after = ARGV[3]
if ARGV[2] ~= epoch or cmp(after, last) > 0 then return {epoch, last, 'unknown'} end
local topics = (#KEYS - 2) / 2
local cutoff, old = nil, false
if ARGV[7] ~= '' then
  cutoff = now_ms() - tonumber(ARGV[7])
  -- A generation may have lived and expired (PEXPIRE) since a position that old.
  old = numcmp(split(after), ms_text(cutoff)) < 0
end
local alive = {}
for i = 1, topics do
  local stream, meta_key = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  local meta = redis.call('HMGET', meta_key, 'epoch', 'created', 'last')
  local exists = redis.call('EXISTS', stream) == 1
  local died = redis.call('HGET', KEYS[2], ARGV[7 + i])
  local died_after = died and cmp(died, after) > 0
  local lost
  if meta[1] == epoch and exists then
    alive[i] = true
    local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)
    local dropped = meta[3]
    if first[1] then dropped = field(first[1][2], 'previous_id') end
    if cutoff then
      -- Kept but older than max_age: as good as trimmed.
      local before = '(' .. ms_text(cutoff) .. '-0'
      local expired = redis.call('XREVRANGE', stream, before, '-', 'COUNT', 1)
      if expired[1] and cmp(expired[1][1], dropped) > 0 then dropped = expired[1][1] end
    end
    lost = cmp(dropped, after) > 0 or (cmp(meta[2], after) >= 0 and (died_after or old))
  elseif meta[1] == epoch or (exists and not meta[1]) then
    lost = true -- half a generation: evicted, or expiring right now
  else
    lost = died_after or old
  end
  if lost then return {epoch, last, 'expired'} end
end

local limit, max_bytes, newest = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6] == '1'
local per_topic = newest and limit or math.ceil(limit / topics)
local all, bound = {}, nil
for i = 1, topics do
  if alive[i] then
    local stream = KEYS[1 + 2 * i]
    local page
    if newest then
      page = redis.call('XREVRANGE', stream, '+', '(' .. after, 'COUNT', per_topic)
    else
      page = redis.call('XRANGE', stream, '(' .. after, '+', 'COUNT', per_topic)
      -- Another topic may have entries before this page's last one: the
      -- merged page is exact only up to the smallest last id of a full page.
      if #page == per_topic and (not bound or cmp(page[#page][1], bound) < 0) then
        bound = page[#page][1]
      end
    end
    for _, e in ipairs(page) do all[#all + 1] = {e[1], i, e[2]} end
  end
end
table.sort(all, function(a, b) return cmp(a[1], b[1]) < 0 end)

local out, size = {epoch, last, 'ok', last, '1'}, 0
local function emit(e)
  out[#out + 1] = e[2]
  out[#out + 1] = e[1]
  out[#out + 1] = e[3]
end
if newest then
  -- The newest `limit` (and max_bytes, but one), oldest first.
  local from = #all + 1
  while from > 1 and #all - from + 1 < limit do
    local s = size_of(all[from - 1][3])
    if from <= #all and size + s > max_bytes then break end
    size = size + s
    from = from - 1
  end
  for k = from, #all do emit(all[k]) end
  return out
end
local taken = 0
for _, e in ipairs(all) do
  if bound and cmp(e[1], bound) > 0 then break end
  local s = size_of(e[3])
  if taken > 0 and (taken == limit or size + s > max_bytes) then
    bound = all[taken][1] -- cut short: the page ends at its last entry
    break
  end
  emit(e)
  taken = taken + 1
  size = size + s
end
if bound then
  out[4], out[5] = bound, '0'
end
return out
"""
)

# KEYS: state, stream, meta, deaths
# ARGV: epoch candidate, bucket
DELETE = (
    _HELPERS
    + """
local epoch, last = state(KEYS[1], ARGV[1])
local meta = redis.call('HMGET', KEYS[3], 'epoch', 'created', 'last')
local dead = leftover(KEYS[2], meta, epoch, last)
if dead then bury(KEYS[4], ARGV[2], dead) end
redis.call('DEL', KEYS[2], KEYS[3])
return epoch
"""
)
