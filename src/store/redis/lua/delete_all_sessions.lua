
local sids = redis.call('SMEMBERS', KEYS[1])
local n = 0
for _, sid in ipairs(sids) do n = n + redis.call('DEL', ARGV[1] .. sid) end
redis.call('DEL', KEYS[1])
return n
