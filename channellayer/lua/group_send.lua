-- group_send.lua: deliver one group message to every member list on this shard, in one round trip.
-- KEYS     for each target list: the list key, then one fresh message key per member on that list
-- ARGV[1]  expiry (s)   ARGV[2] stats prefix   ARGV[3] key prefix length
-- ARGV[4]  channel stats TTL   ARGV[5] global stats TTL
-- ARGV[6…] for each target list: capacity, member count n, then n payloads
-- A list receives all of its members' copies if it held fewer than `capacity` entries when the
-- send arrived, and none otherwise (documented in docs/channel-layers.md, "Capacity").
-- Returns the number of copies queued.
local expiry = tonumber(ARGV[1])
local stats = ARGV[2]
local skip = tonumber(ARGV[3])
local channel_ttl = ARGV[4]
local global_ttl = ARGV[5]
local k, a, queued = 1, 6, 0
local global_sent, global_full = 0, 0
while k <= #KEYS do
    local list_key = KEYS[k]
    local capacity = tonumber(ARGV[a])
    local n = tonumber(ARGV[a + 1])
    local channel = string.sub(list_key, skip + 1)
    if redis.call('LLEN', list_key) < capacity then
        for j = 1, n do
            redis.call('SET', KEYS[k + j], ARGV[a + 1 + j], 'EX', expiry)
            redis.call('RPUSH', list_key, KEYS[k + j])
        end
        redis.call('EXPIRE', list_key, expiry + 1)
        redis.call('INCRBY', stats .. channel .. ':messages_count', n)
        redis.call('EXPIRE', stats .. channel .. ':messages_count', channel_ttl)
        queued = queued + n
        global_sent = global_sent + n
    else
        redis.call('INCRBY', stats .. channel .. ':channel_full_count', n)
        redis.call('EXPIRE', stats .. channel .. ':channel_full_count', channel_ttl)
        global_full = global_full + n
    end
    k = k + n + 1
    a = a + n + 2
end
if global_sent > 0 then
    redis.call('INCRBY', stats .. '#global#:messages_count', global_sent)
    redis.call('EXPIRE', stats .. '#global#:messages_count', global_ttl)
end
if global_full > 0 then
    redis.call('INCRBY', stats .. '#global#:channel_full_count', global_full)
    redis.call('EXPIRE', stats .. '#global#:channel_full_count', global_ttl)
end
return queued
