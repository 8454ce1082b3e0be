#!/usr/bin/env bash
# System packages the test suite needs and a fresh Debian machine lacks.
# Idempotent: what is installed (at the needed version) is skipped, and apt is not even
# updated when nothing is missing. Needs root and apt-get; elsewhere it says what is
# missing and exits 0 (the tests that need a missing package are skipped).
#
# To add a package, add one line to PACKAGES:
#   "<package> <suite or -> <minimum version or -> <why>"
# suite "-" = the machine's own release; "backports" = <codename>-backports (added to apt's
# sources from the machine's own Debian entry when first needed).
set -euo pipefail

PACKAGES=(
  "openssh-server - - real sshd for the ssh device backend's loopback test"
  "mesa-vulkan-drivers backports 25 software Vulkan (lavapipe) for LiteRT's GPU accelerator"
  "libvulkan1 backports - Vulkan loader for the same"
  "chromium - - the browser the web pages' tests drive (Playwright, no browser download)"
)

log() { echo "system-deps: $*" >&2; }

installed_version() { dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null | awk '$3=="installed"{print $4}'; }

needs() {  # needs PACKAGE MINVERSION -> 0 when it must be installed/upgraded
  local v; v=$(installed_version "$1")
  [ -z "$v" ] && return 0
  [ "$2" = "-" ] && return 1
  dpkg --compare-versions "$v" ge "$2" && return 1
  return 0
}

missing=()      # "package suite"
for line in "${PACKAGES[@]}"; do
  read -r pkg suite minv _why <<<"$line"
  if needs "$pkg" "$minv"; then missing+=("$pkg $suite"); fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  log "not root or no apt-get: cannot install ${missing[*]} (tests that need them are skipped)"
  exit 0
fi

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
add_backports() {
  local list=/etc/apt/sources.list.d/maikit-backports.sources
  grep -rqs -- "${codename}-backports" /etc/apt/sources.list /etc/apt/sources.list.d/ && return 0
  # the machine's own Debian archive URI (deb822 or one-line format)
  local uri
  uri=$(grep -hs -A3 '^Types: deb' /etc/apt/sources.list.d/*.sources | awk '/^URIs:/ && $2 ~ /debian\/?$/ {print $2; exit}')
  [ -z "$uri" ] && uri=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '$2 ~ /debian\/?$/ {print $2; exit}')
  uri=${uri:-http://deb.debian.org/debian}
  log "adding ${codename}-backports from $uri"
  printf 'Types: deb\nURIs: %s\nSuites: %s-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
    "$uri" "$codename" >"$list"
}

plain=(); back=()
for m in "${missing[@]}"; do
  read -r pkg suite <<<"$m"
  if [ "$suite" = backports ]; then back+=("$pkg"); else plain+=("$pkg"); fi
done
[ ${#back[@]} -gt 0 ] && add_backports
log "installing ${plain[*]} ${back[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
[ ${#plain[@]} -gt 0 ] && apt-get install -y -qq --no-install-recommends "${plain[@]}" >/dev/null
# backports: libdrm and friends must come from backports too, so let apt pick the suite
[ ${#back[@]} -gt 0 ] && apt-get install -y -qq --no-install-recommends -t "${codename}-backports" "${back[@]}" >/dev/null
# sshd is started by the tests themselves; do not leave the package's own daemon running
if command -v service >/dev/null && [ -x /etc/init.d/ssh ]; then service ssh stop >/dev/null 2>&1 || true; fi
log "done"
