#!/usr/bin/env bash
# Install Debian's `prometheus` package when the binary is missing (the paper-trading metrics test
# scrapes a real Prometheus server). Harmless when it is present, when we are not root, or when apt
# fails: the test then skips and prints why.
set -u
if command -v prometheus >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-prometheus: no apt-get on this machine; the Prometheus scrape test will be skipped" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install-prometheus: not root and no password-less sudo; the Prometheus scrape test will be skipped" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
# --no-install-recommends keeps it to the server binary (no node exporter, no web assets beyond its own)
if ! { $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 \
       || { $SUDO apt-get update -qq >/dev/null 2>&1 \
            && $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1; }; }; then
    echo "install-prometheus: apt-get could not install prometheus; the Prometheus scrape test will be skipped" >&2
    exit 0
fi
# the package may start a system service; the test runs its own server on another port
if command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl stop prometheus >/dev/null 2>&1 || true
fi
exit 0
