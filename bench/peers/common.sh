# Shared by the peer adapters: wait until a Redis condition holds, then
# print the adapter's JSON result line.
wait_until_zero() { # port, redis-cli args...: waits until the reply is 0
    local port=$1; shift
    while [ "$(redis-cli -p "$port" "$@")" != "0" ]; do sleep 0.01; done
}
now() { date +%s.%N; }
result() { # n, start, end, settings
    python3 -c "import json,sys; n=int(sys.argv[1]); print(json.dumps({'n': n, 'jobs_per_s': n/(float(sys.argv[3])-float(sys.argv[2])), 'settings': sys.argv[4]}))" "$@"
}
wait_below() { # port, n, redis-cli args...: waits until the reply drops below n
    local port=$1 n=$2; shift 2
    while [ "$(redis-cli -p "$port" "$@")" -ge "$n" ]; do sleep 0.002; done
}
