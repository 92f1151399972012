
local f = redis.call('HMGET', KEYS[1], 'status', 'expires', 'data', 'tries')
if not f[1] then return nil end
local op = ARGV[2]
local tries = tonumber(f[4] or '0')
if f[1] ~= 'pending' then return {f[1], f[3], tries} end
if op == 'kill' then
  redis.call('HSET', KEYS[1], 'status', 'dead')
  return {'dead', f[3], tries}
end
if tonumber(f[2]) <= tonumber(ARGV[1]) then return {'expired', f[3], tries} end
if op == 'consume' then redis.call('HSET', KEYS[1], 'status', 'used') end
if op == 'try' then
  tries = redis.call('HINCRBY', KEYS[1], 'tries', 1)
  if tries > tonumber(ARGV[3]) then
    redis.call('HSET', KEYS[1], 'status', 'dead')
    return {'dead', f[3], tries}
  end
end
return {'valid', f[3], tries}
