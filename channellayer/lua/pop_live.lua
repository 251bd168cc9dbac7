-- pop_live.lua: a helper spliced into receive.lua and receive_many.lua by channellayer.redis_keyspace.Scripts
-- (a line "-- #include pop_live.lua"); never run on its own, so it names no KEYS or ARGV.
-- pop_live(list_key) pops message keys from the head of the list until one whose body still exists,
-- deletes that body and returns it; nil once the list is empty. Entries whose body has already
-- expired are popped and skipped, as asgi_redis did.
local function pop_live(list_key)
    while true do
        local message_key = redis.call('LPOP', list_key)
        if not message_key then
            return nil
        end
        local payload = redis.call('GET', message_key)
        if payload then
            redis.call('DEL', message_key)
            return payload
        end
    end
end
