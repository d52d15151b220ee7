"""The Lua scripts of the Redis activity store: each write is one script, so that what
one replica writes (the dedup check, the insert, the marks, the trim) is atomic for all.

Keys (``P`` is the prefix, ``lr:activity:`` by default; ``H(x)`` is SHA-1 hex of x, so
a key name is bounded whatever a repository or actor is called):

- ``P meta`` hash: ``tracking_since`` (µs), ``seq`` (the last sequence number given),
  ``marks`` (marks kept, for the metrics);
- ``P feed`` sorted set of every record's sort key (all scores 0, ordered as text:
  ``time`` and ``seq``, 16 digits each, so text order is time order);
- ``P ix:r:H(repository)``, ``P ix:a:<action>``, ``P ix:u:H(actor)``: the same keys
  per repository, action and actor, so a filtered page reads only what it lists;
- ``P rec`` hash: sort key -> the record (JSON as the gateway wrote it);
- ``P ids`` hash: event id -> sort key (the duplicate check);
- ``P pulls:H(repository)`` hash: digest -> latest pull (a mark);
- ``P pushes:H(repository)`` hash: tag -> latest push (a mark, with its digest);
- ``P changed`` hash: repository -> its newest push or delete (µs), for its rows'
  ``last_changed``;
- ``P ph`` sorted set: ``repository \\n digest`` of remembered placeholders, by time.

A write trims at most ``TRIM_STEP`` records (a bound lowered a lot is reached over a few
writes, never in one script that holds Redis up for long).

A mark is ``time|via|digest|actor``: the time in 16 digits (compared as a number
without decoding anything), the actor last (the only field that may hold a ``|``). It
is read for every tag row of a page, so it is kept short and cheap to parse.

Times and numbers cross into Lua as strings and are compared with ``tonumber`` (exact:
microseconds stay below 2^53), never turned back into text there: Lua would write
``1.7e+15``.
"""

TRIM_STEP = 1000

ADD = r"""
local p = ARGV[1]
local record, id, t, action = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local repo, tag, dig, actor = ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local placeholder, now, max = ARGV[10], ARGV[11], tonumber(ARGV[12])
local expired, mark = ARGV[13], ARGV[14]
local meta, feed, ph = p .. 'meta', p .. 'feed', p .. 'ph'
redis.call('HSETNX', meta, 'tracking_since', now)
redis.call('ZREMRANGEBYSCORE', ph, '-inf', '(' .. expired)
if placeholder == '1' then
  redis.call('ZADD', ph, now, repo .. '\n' .. dig)
  return {2, redis.call('ZCARD', feed)}
end
if action == 'delete' and dig ~= '' and tag == '' then
  if redis.call('ZSCORE', ph, repo .. '\n' .. dig) then
    return {2, redis.call('ZCARD', feed)}
  end
end
if redis.call('HEXISTS', p .. 'ids', id) == 1 then
  return {0, redis.call('ZCARD', feed)}
end
local seq = redis.call('HINCRBY', meta, 'seq', 1)
local sk = t .. string.format('%016d', seq)
redis.call('HSET', p .. 'ids', id, sk)
redis.call('HSET', p .. 'rec', sk, record)
redis.call('ZADD', feed, 0, sk)
redis.call('ZADD', p .. 'ix:r:' .. redis.sha1hex(repo), 0, sk)
redis.call('ZADD', p .. 'ix:a:' .. action, 0, sk)
if actor ~= '' then
  redis.call('ZADD', p .. 'ix:u:' .. redis.sha1hex(actor), 0, sk)
end

if action ~= 'pull' then
  local old = redis.call('HGET', p .. 'changed', repo)
  if not old or tonumber(old) < tonumber(t) then
    redis.call('HSET', p .. 'changed', repo, t)
  end
end

local rh = redis.sha1hex(repo)
local pulls, pushes = p .. 'pulls:' .. rh, p .. 'pushes:' .. rh
local function advance(key, field)
  local old = redis.call('HGET', key, field)
  if not old then
    redis.call('HSET', key, field, mark)
    redis.call('HINCRBY', meta, 'marks', 1)
  elseif tonumber(string.sub(old, 1, 16)) < tonumber(t) then
    redis.call('HSET', key, field, mark)
  end
end
if action == 'pull' and dig ~= '' then
  advance(pulls, dig)
elseif action == 'push' and tag ~= '' then
  advance(pushes, tag)
elseif action == 'delete' then
  local gone = 0
  if tag ~= '' then
    gone = gone + redis.call('HDEL', pushes, tag)
  end
  if dig ~= '' then
    gone = gone + redis.call('HDEL', pulls, dig)
    local all = redis.call('HGETALL', pushes)
    for i = 1, #all, 2 do
      local v = all[i + 1]
      local a = string.find(v, '|', 18, true)
      local b = a and string.find(v, '|', a + 1, true)
      if b and string.sub(v, a + 1, b - 1) == dig then
        gone = gone + redis.call('HDEL', pushes, all[i])
      end
    end
  end
  if tag == '' and dig == '' then
    gone = gone + redis.call('HLEN', pulls) + redis.call('HLEN', pushes)
    redis.call('DEL', pulls, pushes)
  end
  if gone > 0 then
    redis.call('HINCRBY', meta, 'marks', -gone)
  end
end

local size = redis.call('ZCARD', feed)
if size > max then
  -- At most TRIM_STEP per write: a bound lowered a lot is reached over several writes,
  -- never in one long script that would hold Redis up.
  local excess = math.min(size - max, tonumber(ARGV[15]))
  local old = redis.call('ZRANGE', feed, 0, excess - 1)
  for _, k in ipairs(old) do
    local raw = redis.call('HGET', p .. 'rec', k)
    if raw then
      local r = cjson.decode(raw)
      redis.call('ZREM', p .. 'ix:r:' .. redis.sha1hex(r.repository), k)
      redis.call('ZREM', p .. 'ix:a:' .. r.action, k)
      if type(r.actor) == 'string' then
        redis.call('ZREM', p .. 'ix:u:' .. redis.sha1hex(r.actor), k)
      end
      redis.call('HDEL', p .. 'ids', r.id)
      redis.call('HDEL', p .. 'rec', k)
    end
    redis.call('ZREM', feed, k)
  end
  size = size - excess
end
return {1, size}
"""

#: KEYS: the index, the records hash. ARGV: max, min (ZREVRANGEBYLEX bounds), count.
#: Returns sort key, record, sort key, record… (an empty record: trimmed meanwhile).
SCAN = r"""
local keys = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, ARGV[3])
if #keys == 0 then
  return {}
end
local values = redis.call('HMGET', KEYS[2], unpack(keys))
local out = {}
for i, k in ipairs(keys) do
  out[#out + 1] = k
  out[#out + 1] = values[i] or ''
end
return out
"""
