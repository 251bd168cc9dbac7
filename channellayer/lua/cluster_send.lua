-- cluster_send.lua: queue one message in the cluster format (docs/channel-layers.md, "Redis Cluster").
-- Every key shares the channel's hash tag, so the call runs on one slot.
-- KEYS[1]  list key (prefix .. '{' .. channel .. '}')
-- KEYS[2]  its messages_count counter      KEYS[3]  its channel_full_count counter
-- KEYS[4]  optional: the flow key of the receiving connection; while it exists nothing is queued
-- ARGV[1]  payload   ARGV[2] expiry (s)   ARGV[3] capacity   ARGV[4] counter TTL (s)
-- A list entry is the message's expiry time (13 decimal digits of Unix milliseconds, Redis's own
-- clock) followed by the payload. Entries past their time are dropped from the head first, so
-- they never count against the capacity.
-- Both counters are written on every send (one by 0), so the keys of a channel exist together and a
-- slot migration that has moved them all redirects with ASK instead of answering TRYAGAIN.
-- Returns 1 when queued, 0 when the list holds `capacity` live entries, -1 when the flow key is set.
if KEYS[4] and redis.call('EXISTS', KEYS[4]) == 1 then
    return -1
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
while true do
    local head = redis.call('LINDEX', KEYS[1], 0)
    if not head or tonumber(string.sub(head, 1, 13)) > now then
        break
    end
    redis.call('LPOP', KEYS[1])
end
local expiry = tonumber(ARGV[2])
if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[3]) then
    redis.call('INCR', KEYS[3])
    redis.call('INCRBY', KEYS[2], 0)
    redis.call('EXPIRE', KEYS[2], ARGV[4])
    redis.call('EXPIRE', KEYS[3], ARGV[4])
    return 0
end
redis.call('RPUSH', KEYS[1], string.format('%013.0f', now + expiry * 1000) .. ARGV[1])
redis.call('EXPIRE', KEYS[1], expiry + 1)
redis.call('INCR', KEYS[2])
redis.call('INCRBY', KEYS[3], 0)
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('EXPIRE', KEYS[3], ARGV[4])
return 1
