-- receive_many.lua: pop, read and delete up to a count (and about a byte budget) of messages from one
-- list in one round trip. Used by an interface server's reply reader on its process list, so that
-- under load many replies cost one round trip, and after a BLPOP wake-up the popped message and
-- whatever queued behind it come back together.
-- KEYS[1]  the list key
-- ARGV[1]  most messages to return
-- ARGV[2]  byte budget: stop once the payloads returned reach it (one message may exceed it alone)
-- ARGV[3]  optional: a message key already popped from the list (by BLPOP), read first
-- Returns the live payloads in list order (possibly empty). Entries whose body has already expired
-- are popped and skipped, as receive.lua does.
-- #include pop_live.lua
local out = {}
local limit = tonumber(ARGV[1])
local budget = tonumber(ARGV[2])
local used = 0
if ARGV[3] then
    local payload = redis.call('GET', ARGV[3])
    if payload then
        redis.call('DEL', ARGV[3])
        out[#out + 1] = payload
        used = used + #payload
    end
end
while #out < limit and used < budget do
    local payload = pop_live(KEYS[1])
    if not payload then
        break
    end
    out[#out + 1] = payload
    used = used + #payload
end
return out
