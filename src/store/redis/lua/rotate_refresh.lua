
local f = redis.call('HMGET', KEYS[1], 'data', 'client', 'current')
if not f[1] then return {'unknown', ''} end
if f[2] ~= ARGV[3] then return {'wrong_client', ''} end
if f[3] == ARGV[1] then
  redis.call('HSET', KEYS[1], 'current', ARGV[2])
  redis.call('LPUSH', KEYS[2], ARGV[1])
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[5]) - 1)
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
  return {'rotated', f[1]}
end
if redis.call('LPOS', KEYS[2], ARGV[1]) then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('SREM', KEYS[3], ARGV[4])
  return {'reused', f[1]}
end
return {'unknown', ''}
