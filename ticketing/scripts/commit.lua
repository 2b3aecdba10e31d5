-- Apply one guarded state change and record its event, atomically.
--
-- KEYS:    every key the change touches; KEYS[1] is the hall's event stream.
-- ARGV[1]: JSON {"guards": [[k, field, expected], ...],
--                "ops":    [[COMMAND, k, arg, ...], ...],
--                "event":  [type, at, data], "maxlen": n,
--                "audit":  [k_list, k_head, k_days, day, body, ttl] (optional),
--                "done":   [k_step, seconds] (optional: the step's id key; a resend of
--                           an applied step returns the event id it kept there)}
--          where k indexes KEYS and every arg is a string.
-- Returns: the event's stream id; or the error "CONFLICT <key>" when a guarded
--          hash field no longer holds the expected value (nothing is changed).
local spec = cjson.decode(ARGV[1])
if spec.done then  -- a resend of a step already applied: answer as applied, change nothing
  local prior = redis.call('GET', KEYS[spec.done[1]])
  if prior then return prior end
end
for _, g in ipairs(spec.guards) do
  local current = redis.call('HGET', KEYS[g[1]], g[2])
  if current == false then current = '' end
  if current ~= g[3] then
    return redis.error_reply('CONFLICT ' .. KEYS[g[1]])
  end
end
local allowed = {HSET = true, HDEL = true, HINCRBY = true, ZADD = true, ZREM = true,
                 LPUSH = true, LTRIM = true, SADD = true, SREM = true, EXPIRE = true,
                 DEL = true, SET = true, INCRBY = true}
for _, op in ipairs(spec.ops) do
  if not allowed[op[1]] then
    return redis.error_reply('BADOP ' .. tostring(op[1]))
  end
  local args = {}
  for i = 3, #op do args[#args + 1] = op[i] end
  redis.call(op[1], KEYS[op[2]], unpack(args))
end
if spec.audit then  -- the action's audit entry, chained (audit_append: hall/audit_store.py)
  local a = spec.audit
  audit_append(KEYS[a[1]], KEYS[a[2]], KEYS[a[3]], a[4], a[5], a[6])
end
local ev = spec.event
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', spec.maxlen, '*',
                      'type', ev[1], 'at', ev[2], 'data', ev[3])
if spec.done then redis.call('SET', KEYS[spec.done[1]], id, 'EX', tonumber(spec.done[2])) end
return id
