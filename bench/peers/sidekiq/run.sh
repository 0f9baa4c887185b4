#!/usr/bin/env bash
# Sidekiq (Debian's ruby-sidekiq 6.4, RbNaCl for argon2id). MRI has a
# global lock, so Sidekiq scales by processes: one per core.
. "$(dirname "$0")/../common.sh"
export REDIS_URL="redis://127.0.0.1:${1:-0}/0"
case $cmd in
setup)
    command -v sidekiq >/dev/null && ruby -e 'require "rbnacl"' 2>/dev/null ||
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ruby-sidekiq ruby-rbnacl >&2
    echo "sidekiq $(ruby -e 'require "sidekiq"; print Sidekiq::VERSION')" ;;
fill) exec ruby "$here/fill.rb" "$2" "$3" ;;
worker) exec sidekiq -r "$here/jobs.rb" -c "$2" -q default ;;
# Sidekiq writes its own counters every 5 s, so sleep and hash jobs count
# themselves; transform jobs are done when their queue is empty (the last
# 20 taken finish within a millisecond), so they pay no extra call.
queued) echo "return redis.call('llen', 'queue:default')" ;;
left) cat <<'LUA' ;;
local d = redis.call('get', 'bench:done')
if d then return tonumber(ARGV[1]) - tonumber(d) end
return redis.call('llen', 'queue:default')
LUA
*) echo "sidekiq: no $cmd" >&2; exit 2 ;;
esac
