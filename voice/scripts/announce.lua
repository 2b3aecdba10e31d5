-- Append a call's voice.announce event to the hall's stream, once per call.
--
-- KEYS[1]  the hall's event stream (hall:{h}:events)
-- KEYS[2]  the call's "said" marker (hall:{h}:voice:said:<call id>)
-- ARGV[1]  stream MAXLEN (approximate trim, as the ticket store does)
-- ARGV[2]  marker lifetime in seconds
-- ARGV[3]  event type ("voice.announce")
-- ARGV[4]  event time (POSIX seconds)
-- ARGV[5]  event data (JSON)
--
-- Returns the new stream entry id, or false when the call was already announced
-- (a second dispatcher or a retried job must not make the board say it twice).
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then
  return false
end
return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
                  'type', ARGV[3], 'at', ARGV[4], 'data', ARGV[5])
