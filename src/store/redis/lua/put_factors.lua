-- KEYS[1] the factors, KEYS[2] the user's record; ARGV[1] the factors to write, ARGV[2] the
-- record as read ('' when there is none), ARGV[3] the record with the new factor kinds,
-- ARGV[4] the factors' revision as read.
-- -1: the factors were written since they were read; 0: the record changed; 1: written.
-- A value that cannot be read counts as revision 0 (nobody read it: only a reset writes over it).
local stored = redis.call('GET', KEYS[1])
local revision = 0
if stored then
  local ok, decoded = pcall(cjson.decode, stored)
  if ok and type(decoded) == 'table' then revision = tonumber(decoded.revision) or 0 end
end
if revision ~= tonumber(ARGV[4]) then return -1 end
local current = redis.call('GET', KEYS[2]) or ''
if current ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
if current ~= '' then redis.call('SET', KEYS[2], ARGV[3]) end
return 1
