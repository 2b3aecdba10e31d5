-- Number and store a new ticket with the wait quoted to it, queue it, and record the issue
-- event, atomically.
--
-- KEYS[1] hall event stream        KEYS[2] day counters (hash: queue letter -> last n)
-- KEYS[3] day numbers (number->id) KEYS[4] day tickets (zset id -> issued_at)
-- KEYS[5] the queue (zset)         KEYS[6] the ticket (hash)
-- KEYS[7] the queue's recent service times (list)
-- then, in order: the device's record (hash; only with ARGV[13]), the audit trail's day
-- list, head and day index (only with an audit entry), and the hall's windows (hashes)
-- ARGV[1] queue letter   ARGV[2] ticket JSON holding the placeholder "number":""
-- ARGV[3] order key (+ n µs)  ARGV[4] issued_at   ARGV[5] ticket id
-- ARGV[6] daily limit    ARGV[7] stream maxlen   ARGV[8] event type
-- ARGV[9] ttl of the day keys (s)  ARGV[10] how many recent service times to read
-- ARGV[11] '' without an audit entry; else the ttl of a new audit day (s, see
--          audit_append), and ARGV[12] the entry's body after its time (its "#NUMBER#"
--          becomes the number given): the entry is '{"at":' .. ARGV[4] .. that, on the
--          hall-day its day list is named after (the ticket's day)
-- ARGV[13] '' or the principal JSON the device's record must still hold (the caller's
--          device token, hall.auth.tokens.DeviceProof), ARGV[14] its expiry as stored
-- ARGV[15] the digest of the recent service times and windows the quote plan was made
--          from ('' none yet; '*': issue on the plan given whatever the state, the
--          caller's last attempt); ARGV[16] '' when the plan has an estimate (else its
--          reason: no estimate); ARGV[17..20] idle, residual, service, divisor
--          (ticketing.estimate.Plan); ARGV[21] the ticket's quote field
-- Returns: {number, people ahead in the queue, stream id ('' on a retry)}; or, when the
--          digest of the state read here is not ARGV[15] (nothing changed):
--          {'', digest, {recent service times}, {state JSON of each window, '' if none}},
--          for the caller to make the plan again; or the error "DEVICE_GONE" (the device
--          was revoked: nothing changed) or "SOLD_OUT" when the queue has issued its
--          daily limit (nothing changed).
--
-- The quote is the estimate's plan evaluated on the people ahead counted here, so it is
-- the wait the caller shows, written in the same step as the ticket.
-- A retry of the same issue (same ticket id: the client library resends the script when
-- the connection broke before the reply, e.g. in a failover) returns the ticket already
-- issued instead of numbering it a second time.
local k = 8
if ARGV[13] ~= '' then
  local d = redis.call('HMGET', KEYS[8], 'principal', 'expires')
  if d[1] ~= ARGV[13] or (d[2] or '') ~= ARGV[14] then
    return redis.error_reply('DEVICE_GONE')
  end
  k = 9
end
local audited = ARGV[11] ~= ''
local recent = redis.call('LRANGE', KEYS[7], 0, tonumber(ARGV[10]) - 1)
local windows = {}
for i = (audited and k + 3 or k), #KEYS do
  windows[#windows + 1] = redis.call('HGET', KEYS[i], 'json') or ''
end
local seen = redis.sha1hex(table.concat(recent, ',') .. '\n' .. table.concat(windows, '\n'))
if seen ~= ARGV[15] and ARGV[15] ~= '*' then
  return {'', seen, recent, windows}
end

local function quote(ahead)
  if ARGV[16] ~= '' then return '' end
  local idle = tonumber(ARGV[17])
  if ahead < idle then return string.format('%.1f', 0) end
  return string.format('%.1f', (ahead - idle + tonumber(ARGV[18])) * tonumber(ARGV[19])
                               / tonumber(ARGV[20]))
end

local existing = redis.call('HGET', KEYS[6], 'json')
if existing then
  local ahead = redis.call('ZRANK', KEYS[5], ARGV[5]) or 0
  redis.call('HSETNX', KEYS[6], ARGV[21], quote(ahead))
  return {cjson.decode(existing).number, ahead, ''}
end
local n = redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
if n > tonumber(ARGV[6]) then
  redis.call('HINCRBY', KEYS[2], ARGV[1], -1)
  return redis.error_reply('SOLD_OUT')
end
local number = ARGV[1] .. string.format('%03d', n)
local json = string.gsub(ARGV[2], '"number":""', '"number":"' .. number .. '"', 1)
-- Tickets issued in the same instant keep their issue order (a tie would otherwise
-- be broken by the random id): the n-th ticket sits n microseconds later.
redis.call('ZADD', KEYS[5], string.format('%.17g', tonumber(ARGV[3]) + n * 1e-6), ARGV[5])
local ahead = redis.call('ZRANK', KEYS[5], ARGV[5])
redis.call('HSET', KEYS[6], 'ver', '1', 'status', 'waiting', 'json', json,
           ARGV[21], quote(ahead))
redis.call('HSET', KEYS[3], number, ARGV[5])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[5])
for i = 2, 4 do redis.call('EXPIRE', KEYS[i], ARGV[9]) end
if audited then
  local rest = ARGV[12]
  local at = string.find(rest, '#NUMBER#', 1, true)
  audit_append(KEYS[k], KEYS[k + 1], KEYS[k + 2], string.sub(KEYS[k], -8), '{"at":' .. ARGV[4]
               .. string.sub(rest, 1, at - 1) .. number .. string.sub(rest, at + 8), ARGV[11])
end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[7], '*',
                      'type', ARGV[8], 'at', ARGV[4], 'data', '{"ticket":' .. json .. '}')
return {number, ahead, id}
