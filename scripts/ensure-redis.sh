# Sourced by `make test`: use the Redis on 127.0.0.1:6379 when it answers, else start a throwaway one on a
# free port (stopped when the shell exits). Exports EDGESHOP_TEST_REDIS_URL for the tests.
_redis_answers() {
  python3 - "$1" <<'PY'
import socket, sys
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1) as s:
        s.sendall(b"PING\r\n")
        sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
except OSError:
    sys.exit(1)
PY
}
if _redis_answers "${EDGESHOP_REDIS_PORT:-6379}"; then
  export EDGESHOP_TEST_REDIS_URL="redis://127.0.0.1:${EDGESHOP_REDIS_PORT:-6379}/15"
else
  if ! command -v redis-server >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then _sudo=""; elif command -v sudo >/dev/null 2>&1; then _sudo="sudo"; else
      echo "error: no Redis answers on 127.0.0.1:6379 and redis-server is missing; install it (apt-get install redis-server)" >&2
      return 1
    fi
    echo "installing redis-server from Debian's packages…"
    $_sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $_sudo apt-get install -y -qq redis-server >/dev/null \
      || { echo "error: could not install redis-server" >&2; return 1; }
  fi
  _port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  _dir=$(mktemp -d)
  redis-server --port "$_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$_dir" --daemonize yes \
    --pidfile "$_dir/redis.pid" --logfile "$_dir/redis.log"
  for _ in $(seq 50); do _redis_answers "$_port" && break; sleep 0.1; done
  _redis_answers "$_port" || { echo "error: the throwaway redis-server did not start" >&2; return 1; }
  trap 'kill "$(cat "'"$_dir"'/redis.pid")" 2>/dev/null; rm -rf "'"$_dir"'"' EXIT
  export EDGESHOP_TEST_REDIS_URL="redis://127.0.0.1:$_port/15"
  echo "started a throwaway redis-server on 127.0.0.1:$_port"
fi
