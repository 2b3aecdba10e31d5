-- Number and store a new ticket, queue it, and record the issue event, atomically.
--
-- KEYS[1] hall event stream        KEYS[2] day counters (hash: queue letter -> last n)
-- KEYS[3] day numbers (number->id) KEYS[4] day tickets (zset id -> issued_at)
-- KEYS[5] the queue (zset)         KEYS[6] the ticket (hash)
-- KEYS[7] the queue's recent service times (list)
-- KEYS[8..10] the audit trail's day list, head and day index (only with an audit entry)
-- KEYS[8 or 11..] the hall's windows (hashes): read here so the estimate costs no
--         second round trip
-- ARGV[1] queue letter   ARGV[2] ticket JSON holding the placeholder "number":""
-- ARGV[3] order key (+ n µs)  ARGV[4] issued_at   ARGV[5] ticket id
-- ARGV[6] daily limit    ARGV[7] stream maxlen   ARGV[8] event type
-- ARGV[9] ttl of the day keys (s)  ARGV[10] how many recent service times to return
-- ARGV[11] '' without an audit entry; else the ttl of a new audit day (s, see
--          audit_append), and ARGV[12] the entry's body after its time (its "#NUMBER#"
--          becomes the number given): the entry is '{"at":' .. ARGV[4] .. that, on the
--          hall-day its day list is named after (the ticket's day)
-- Returns: {number, people ahead in the queue, stream id ('' on a retry),
--          {recent service times}, {state JSON of each window, '' if none}};
--          or the error
--          "SOLD_OUT" when the queue has issued its daily limit (nothing changed).
--
-- A retry of the same issue (same ticket id: the client library resends the script when
-- the connection broke before the reply, e.g. in a failover) returns the ticket already
-- issued instead of numbering it a second time.
local existing = redis.call('HGET', KEYS[6], 'json')
local number, ahead, id
if existing then
  number = cjson.decode(existing).number
  ahead = redis.call('ZRANK', KEYS[5], ARGV[5]) or 0
  id = ''
else
  local n = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
  if n > tonumber(ARGV[6]) then
    redis.call('HINCRBY', KEYS[2], ARGV[1], -1)
    return redis.error_reply('SOLD_OUT')
  end
  number = ARGV[1] .. string.format('%03d', n)
  local json = string.gsub(ARGV[2], '"number":""', '"number":"' .. number .. '"', 1)
  redis.call('HSET', KEYS[6], 'ver', '1', 'status', 'waiting', 'json', json)
  -- Tickets issued in the same instant keep their issue order (a tie would otherwise
  -- be broken by the random id): the n-th ticket sits n microseconds later.
  redis.call('ZADD', KEYS[5], string.format('%.17g', tonumber(ARGV[3]) + n * 1e-6), ARGV[5])
  redis.call('HSET', KEYS[3], number, ARGV[5])
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[5])
  for i = 2, 4 do redis.call('EXPIRE', KEYS[i], ARGV[9]) end
  ahead = redis.call('ZRANK', KEYS[5], ARGV[5])
  if ARGV[11] ~= '' then
    local rest = ARGV[12]
    local at = string.find(rest, '#NUMBER#', 1, true)
    audit_append(KEYS[8], KEYS[9], KEYS[10], string.sub(KEYS[8], -8), '{"at":' .. ARGV[4]
                 .. string.sub(rest, 1, at - 1) .. number .. string.sub(rest, at + 8), ARGV[11])
  end
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[7], '*',
                   'type', ARGV[8], 'at', ARGV[4], 'data', '{"ticket":' .. json .. '}')
end
local recent = redis.call('LRANGE', KEYS[7], 0, tonumber(ARGV[10]) - 1)
local windows = {}
for i = (ARGV[11] == '' and 8 or 11), #KEYS do
  windows[#windows + 1] = redis.call('HGET', KEYS[i], 'json') or ''
end
return {number, ahead, id, recent, windows}
