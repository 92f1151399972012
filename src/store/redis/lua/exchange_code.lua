
local f = redis.call('HMGET', KEYS[1], 'data', 'access', 'client')
if not f[1] then return nil end
if f[3] ~= ARGV[2] then return {'wrong_client', ''} end
if f[2] then return {'reused', f[2]} end
redis.call('HSET', KEYS[1], 'access', ARGV[1])
return {'fresh', f[1]}
