-- receive.lua: pop, read and delete one message in one round trip (asgi_redis needed three).
-- KEYS     list keys, in the order to try them
-- Returns {list key, payload} for the first live message, or nil. Entries whose body has already
-- expired are popped and skipped, as asgi_redis did.
for i = 1, #KEYS do
    while true do
        local message_key = redis.call('LPOP', KEYS[i])
        if not message_key then
            break
        end
        local payload = redis.call('GET', message_key)
        if payload then
            redis.call('DEL', message_key)
            return {KEYS[i], payload}
        end
    end
end
return false
