# Shared helpers of the repository's scripts (sourced, not run).

# Installs redis-server from the OS packages when it is missing (Debian/Ubuntu).
ensure_redis() {
  if command -v redis-server >/dev/null 2>&1; then
    return
  fi
  echo "redis-server not found: installing it from the OS packages..."
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
  command -v redis-server >/dev/null 2>&1 || { echo "redis-server could not be installed" >&2; exit 1; }
}

# Installs Chromium from the OS packages when it is missing (the dashboard test drives it headless).
ensure_chromium() {
  if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    return
  fi
  echo "chromium not found: installing it from the OS packages..."
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  command -v chromium >/dev/null 2>&1 || { echo "chromium could not be installed" >&2; exit 1; }
}

# Prints a free TCP port on 127.0.0.1.
free_port() {
  local port
  while true; do
    port=$(( 20000 + RANDOM % 20000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}

# Waits until a command succeeds, at most $1 seconds.
wait_for() {
  local seconds=$1; shift
  local deadline=$(( $(date +%s) + seconds ))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "timed out after ${seconds}s waiting for: $*" >&2
      return 1
    fi
    sleep 0.2
  done
}
