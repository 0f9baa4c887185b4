#!/usr/bin/env bash
# Installs what building and testing jobq needs on Debian 12, when missing.
# Sourced by tests/run.sh, deploy/quickstart.sh and bench/run.sh.
jobq_install_deps() {
    local pkgs=(build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
        libhiredis-dev libevent-dev libmsgpack-dev libsodium-dev libinih-dev
        libjansson-dev libcurl4-openssl-dev libcmocka-dev libsystemd-dev redis-server
        redis-tools valgrind python3 python3-redis python3-msgpack python3-pytest python3-pytest-xdist
        python3-yaml faketime systemd openssl chromium)
    # Node and npm (the browser test, the Node runner library): a machine
    # may have them from elsewhere (NodeSource's nodejs carries its own
    # npm, which Debian's npm package conflicts with): only when missing.
    command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
    command -v npm >/dev/null 2>&1 || pkgs+=(npm)
    local missing=()
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
