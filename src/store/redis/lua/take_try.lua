
local data = redis.call('HGET', KEYS[1], 'data')
if not data then return nil end
local tries = redis.call('HINCRBY', KEYS[1], 'tries', 1)
if tries > tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return nil
end
return {data, tries}
