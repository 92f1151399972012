
local current = redis.call('GET', KEYS[2]) or ''
if current ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
if current ~= '' then redis.call('SET', KEYS[2], ARGV[3]) end
return 1
