-- send.lua: queue one message in the asgi_redis 1.4.3 layout and count it, in one round trip.
-- KEYS[1]  message key (prefix .. 32 hex)          KEYS[2]  list key (prefix .. channel)
-- KEYS[3]  <stats>channel:messages_count            KEYS[4]  <stats>channel:channel_full_count
-- KEYS[5]  <stats>#global#:messages_count           KEYS[6]  <stats>#global#:channel_full_count
-- ARGV[1]  payload   ARGV[2] expiry (s)   ARGV[3] capacity   ARGV[4] channel stats TTL   ARGV[5] global stats TTL
-- KEYS[7]  optional: a flow key (prefix .. ':flow:' .. channel); while it exists nothing is queued
-- Returns 1 when queued, 0 when the list already holds `capacity` entries, -1 when the flow key is set.
local expiry = tonumber(ARGV[2])
if KEYS[7] and redis.call('EXISTS', KEYS[7]) == 1 then
    return -1
end
if redis.call('LLEN', KEYS[2]) >= tonumber(ARGV[3]) then
    redis.call('INCR', KEYS[4])
    redis.call('EXPIRE', KEYS[4], ARGV[4])
    redis.call('INCR', KEYS[6])
    redis.call('EXPIRE', KEYS[6], ARGV[5])
    return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', expiry)
redis.call('RPUSH', KEYS[2], KEYS[1])
redis.call('EXPIRE', KEYS[2], expiry + 1)
redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ARGV[4])
redis.call('INCR', KEYS[5])
redis.call('EXPIRE', KEYS[5], ARGV[5])
return 1
