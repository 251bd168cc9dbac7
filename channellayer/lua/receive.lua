-- receive.lua: pop, read and delete one message in one round trip (asgi_redis needed three).
-- KEYS     list keys, in the order to try them
-- Returns {list key, payload} for the first live message, or nil.
-- #include pop_live.lua
for i = 1, #KEYS do
    local payload = pop_live(KEYS[i])
    if payload then
        return {KEYS[i], payload}
    end
end
return false
