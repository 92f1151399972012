
local ids = redis.call('SMEMBERS', KEYS[1])
local n = 0
for _, id in ipairs(ids) do
  n = n + redis.call('DEL', ARGV[1] .. id)
  redis.call('DEL', ARGV[2] .. id)
end
redis.call('DEL', KEYS[1])
return n
