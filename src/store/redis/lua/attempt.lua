-- One attempt hash (KEYS[1]): peek, consume, spend a code or number guess on, approve,
-- finish an approved, or kill a sign-in attempt. ARGV: now (ms), op, max code tries.
local f = redis.call('HMGET', KEYS[1], 'status', 'expires', 'data', 'tries')
if not f[1] then return nil end
local op = ARGV[2]
local tries = tonumber(f[4] or '0')
local expired = tonumber(f[2]) <= tonumber(ARGV[1])
if f[1] == 'approved' then
  -- Approved from another device: only the browser that asked finishes it, in time.
  if expired then return {'expired', f[3], tries} end
  if op == 'finish' then
    redis.call('HSET', KEYS[1], 'status', 'used')
    return {'valid', f[3], tries}
  end
  return {'approved', f[3], tries}
end
if f[1] ~= 'pending' then return {f[1], f[3], tries} end
if op == 'kill' then
  redis.call('HSET', KEYS[1], 'status', 'dead')
  return {'dead', f[3], tries}
end
if expired then return {'expired', f[3], tries} end
if op == 'finish' then return {'pending', f[3], tries} end
if op == 'consume' then redis.call('HSET', KEYS[1], 'status', 'used') end
if op == 'approve' then redis.call('HSET', KEYS[1], 'status', 'approved') end
if op == 'number' then
  -- Counted before the number is checked: only the guess that counts 1 is checked.
  return {'valid', f[3], redis.call('HINCRBY', KEYS[1], 'number_tries', 1)}
end
if op == 'try' then
  tries = redis.call('HINCRBY', KEYS[1], 'tries', 1)
  if tries > tonumber(ARGV[3]) then
    redis.call('HSET', KEYS[1], 'status', 'dead')
    return {'dead', f[3], tries}
  end
end
return {'valid', f[3], tries}
