-- Deletes every key of one user (all under the hash tag `{u:<id>}`), the record last.
-- KEYS[1] = the user record, KEYS[2] = the session index, KEYS[3] = the refresh family index,
-- KEYS[4..] = the user's other keys (factors, TOTP step and enrollments, recovery codes,
-- phone enrollment, devices, apps, audit stream, each passkey's signature counter).
-- ARGV[1] = session key prefix, ARGV[2] = session apps prefix, ARGV[3] = refresh family
-- prefix, ARGV[4] = spent list prefix. The undeclared keys share KEYS[1]'s hash tag.
-- Returns 1 when the record existed, 0 otherwise.
local existed = redis.call('EXISTS', KEYS[1])
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  redis.call('DEL', ARGV[1] .. sid, ARGV[2] .. sid)
end
for _, family in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  redis.call('DEL', ARGV[3] .. family, ARGV[4] .. family)
end
redis.call('DEL', unpack(KEYS))
return existed
