-- cluster_group_send.lua: deliver one group message to every member list in this hash slot, in one call.
-- KEYS     for each target list: the list key, its messages_count and its channel_full_count counters
-- ARGV[1]  expiry (s)   ARGV[2] counter TTL (s)
-- ARGV[3…] for each target list: capacity, member count n, then n payloads
-- A list receives all of its members' copies if it held fewer than `capacity` live entries when
-- the send arrived, and none otherwise (the rule of channellayer.base). Returns the copies queued.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = tonumber(ARGV[1])
local ttl = ARGV[2]
local stamp = string.format('%013.0f', now + expiry * 1000)
local a, queued = 3, 0
for k = 1, #KEYS, 3 do
    local list_key = KEYS[k]
    local capacity = tonumber(ARGV[a])
    local n = tonumber(ARGV[a + 1])
    while true do
        local head = redis.call('LINDEX', list_key, 0)
        if not head or tonumber(string.sub(head, 1, 13)) > now then
            break
        end
        redis.call('LPOP', list_key)
    end
    if redis.call('LLEN', list_key) < capacity then
        for j = 1, n do
            redis.call('RPUSH', list_key, stamp .. ARGV[a + 1 + j])
        end
        redis.call('EXPIRE', list_key, expiry + 1)
        redis.call('INCRBY', KEYS[k + 1], n)
        redis.call('INCRBY', KEYS[k + 2], 0)
        queued = queued + n
    else
        redis.call('INCRBY', KEYS[k + 1], 0)
        redis.call('INCRBY', KEYS[k + 2], n)
    end
    redis.call('EXPIRE', KEYS[k + 1], ttl)
    redis.call('EXPIRE', KEYS[k + 2], ttl)
    a = a + n + 2
end
return queued
