-- cluster_receive.lua: pop one live message from the first list that has one (all lists in one slot).
-- KEYS     list keys, in the order to try them
-- ARGV[1]  optional: most messages to return from KEYS[1] alone (a batch), default 1
-- ARGV[2]  optional: byte budget of a batch (one message may exceed it alone)
-- Returns {list key, payload, payload, ...} without the expiry stamps, or false. Expired entries
-- are popped and skipped.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1] or '1')
local budget = tonumber(ARGV[2] or '0')
for i = 1, #KEYS do
    local out = {KEYS[i]}
    local used = 0
    while #out - 1 < limit and (#out == 1 or used < budget) do
        local entry = redis.call('LPOP', KEYS[i])
        if not entry then
            break
        end
        if tonumber(string.sub(entry, 1, 13)) > now then
            out[#out + 1] = string.sub(entry, 14)
            used = used + #entry - 13
        end
    end
    if #out > 1 then
        return out
    end
end
return false
