-- Claim one appointment slot (or move a booking to another slot), atomically with its event.
--
-- KEYS[1] hall event stream       KEYS[2] the slot counts of the day and matter (hash)
-- KEYS[3] the new booking (hash)  KEYS[4] the booking code (string -> booking id)
-- KEYS[5] the day's bookings (zset id -> slot start)
-- KEYS[6] the identity's open bookings per matter (hash matter -> count)
-- KEYS[7] the identity's bookings (zset id -> slot start)
-- KEYS[8] the old booking (hash)  KEYS[9] the old slot counts  KEYS[10] the old day's bookings
--         (KEYS[8..10] only when moving a booking; otherwise absent)
-- ARGV[1] slot label   ARGV[2] capacity   ARGV[3] matter   ARGV[4] booking id
-- ARGV[5] booking JSON  ARGV[6] slot start  ARGV[7] week start  ARGV[8] week end
-- ARGV[9] max bookings per week  ARGV[10] max open per matter  ARGV[11] event type
-- ARGV[12] event time  ARGV[13] event data  ARGV[14] stream maxlen  ARGV[15] ttl (s)
-- ARGV[16] old booking id ('' for a new booking)  ARGV[17] old version  ARGV[18] old label
-- ARGV[19] old booking JSON (status 'changed')
-- Returns the event id, or an error naming the refusal (nothing is changed):
-- SLOT_FULL, OPEN_LIMIT, WEEK_LIMIT, CODE_TAKEN, CONFLICT.
local moving = ARGV[16] ~= ''
local same_slot_back = 0
local old_in_week = 0
if moving then
  if redis.call('HGET', KEYS[8], 'ver') ~= ARGV[17] then
    return redis.error_reply('CONFLICT ' .. KEYS[8])
  end
  if KEYS[9] == KEYS[2] and ARGV[18] == ARGV[1] then same_slot_back = 1 end
  local old_start = redis.call('ZSCORE', KEYS[7], ARGV[16])
  if old_start and tonumber(old_start) >= tonumber(ARGV[7]) and tonumber(old_start) < tonumber(ARGV[8]) then
    old_in_week = 1
  end
end
local taken = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') - same_slot_back
if taken >= tonumber(ARGV[2]) then return redis.error_reply('SLOT_FULL') end
local open = tonumber(redis.call('HGET', KEYS[6], ARGV[3]) or '0')
if moving then open = open - 1 end
if open >= tonumber(ARGV[10]) then return redis.error_reply('OPEN_LIMIT') end
local week = redis.call('ZCOUNT', KEYS[7], ARGV[7], '(' .. ARGV[8]) - old_in_week
if week >= tonumber(ARGV[9]) then return redis.error_reply('WEEK_LIMIT') end
if redis.call('EXISTS', KEYS[4]) == 1 then return redis.error_reply('CODE_TAKEN') end
if moving then
  redis.call('HINCRBY', KEYS[9], ARGV[18], -1)
  redis.call('ZREM', KEYS[10], ARGV[16])
  redis.call('ZREM', KEYS[7], ARGV[16])
  redis.call('HINCRBY', KEYS[6], ARGV[3], -1)
  redis.call('HSET', KEYS[8], 'ver', tonumber(ARGV[17]) + 1, 'status', 'changed', 'json', ARGV[19])
end
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
redis.call('HSET', KEYS[3], 'ver', '1', 'status', 'booked', 'json', ARGV[5])
redis.call('SET', KEYS[4], ARGV[4], 'EX', ARGV[15])
redis.call('ZADD', KEYS[5], ARGV[6], ARGV[4])
redis.call('HINCRBY', KEYS[6], ARGV[3], 1)
redis.call('ZADD', KEYS[7], ARGV[6], ARGV[4])
for _, k in ipairs({KEYS[2], KEYS[3], KEYS[5], KEYS[6], KEYS[7]}) do
  redis.call('EXPIRE', k, ARGV[15])
end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[14], '*',
                  'type', ARGV[11], 'at', ARGV[12], 'data', ARGV[13])
