#!/usr/bin/env bash
# System packages the test suite needs and a fresh Debian machine lacks.
# Idempotent: what is installed (at the needed version) is skipped, and apt is not even
# updated when nothing is missing. Needs root and apt-get. Without them it says what is
# missing and exits 0, and the tests that need a missing package are skipped (pytest's
# summary then says the run was partial); under CI (CI=true) it exits 1 instead, since a
# CI run without them would test less than it claims.
#
# Packages come only from the machine's own apt sources (apt's configured source list and
# parts folder, as `apt-config` reports them, so APT_CONFIG is honoured); a package from
# backports needs a configured Debian entry for the machine's release, and without one the
# script says so and exits 1.
#
#   scripts/system-deps.sh            install what is missing
#   scripts/system-deps.sh --dry-run  say what would be installed and added; change nothing
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

dry_run=0
case "${1:-}" in
  "") ;;
  --dry-run) dry_run=1 ;;
  *) echo "usage: $0 [--dry-run]" >&2; exit 2 ;;
esac

log() { echo "system-deps: $*" >&2; }
under_ci() { [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; }

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
names=$(for m in "${missing[@]}"; do echo "${m%% *}"; done | xargs)

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  why="not root"; [ "$(id -u)" = 0 ] && why="no apt-get"
  if under_ci; then
    log "$why: cannot install $names; under CI (CI=$CI) that is a failure: the tests that need them would not run"
    exit 1
  fi
  log "$why: cannot install $names (the tests that need them are skipped; pytest's summary lists them)"
  exit 0
fi

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
# apt's own idea of where its sources are (APT_CONFIG may point elsewhere)
eval "$(apt-config shell SOURCE_LIST Dir::Etc::sourcelist/f SOURCE_PARTS Dir::Etc::sourceparts/d)"
SOURCE_PARTS=${SOURCE_PARTS%/}
where="$SOURCE_LIST and $SOURCE_PARTS/"

# the enabled "deb" entries as "URI SUITE SIGNED-BY" lines, from both formats
deb_entries() {
  local f
  for f in "$SOURCE_PARTS"/*.sources; do
    [ -f "$f" ] || continue
    # deb822: one stanza per paragraph; comment lines are dropped before the split
    grep -v '^[[:space:]]*#' "$f" | awk 'BEGIN { RS = ""; FS = "\n" }
      {
        types = uris = suites = key = ""; enabled = "yes"
        for (i = 1; i <= NF; i++) {
          split($i, kv, ":"); k = tolower(kv[1]); v = substr($i, length(kv[1]) + 2); gsub(/^[ \t]+|[ \t]+$/, "", v)
          if (k == "types") types = v; else if (k == "uris") uris = v; else if (k == "suites") suites = v
          else if (k == "enabled") enabled = tolower(v); else if (k == "signed-by") key = v
        }
        if (enabled == "no" || (" " types " ") !~ / deb /) next
        n = split(uris, u, /[ \t]+/); m = split(suites, s, /[ \t]+/)
        for (i = 1; i <= n; i++) for (j = 1; j <= m; j++) print u[i], s[j], (key == "" ? "-" : key)
      }'
  done
  for f in "$SOURCE_LIST" "$SOURCE_PARTS"/*.list; do
    [ -f "$f" ] || continue
    # one-line format: deb [options] URI SUITE COMPONENTS...
    awk '$1 == "deb" {
        i = 2; key = "-"
        if ($i ~ /^\[/) { while (i <= NF) { if ($i ~ /^signed-by=/) { key = substr($i, 11); sub(/\]$/, "", key) }
                                           if ($i ~ /\]$/) { i++; break } i++ } }
        print $i, $(i + 1), key
      }' "$f"
  done
}

entries=$(deb_entries)
if [ -z "$entries" ]; then
  log "apt has no configured source (no enabled 'deb' entry in $where): cannot install $names; configure the machine's package source first"
  exit 1
fi

backports_list=$SOURCE_PARTS/maikit-backports.sources
add_backports() {
  if grep -rqs -- "${codename}-backports" "$SOURCE_LIST" "$SOURCE_PARTS"/; then return 0; fi
  # the machine's own Debian archive: the entry that serves its release
  local uri key
  read -r uri _suite key <<<"$(awk -v c="$codename" '$2 == c { print; exit }' <<<"$entries")"
  if [ -z "$uri" ]; then
    log "no configured Debian source for '$codename' in $where, so ${codename}-backports (for $*) cannot be added;" \
        "add the machine's Debian entry for $codename and run again"
    exit 1
  fi
  [ "$key" = "-" ] && key=/usr/share/keyrings/debian-archive-keyring.gpg
  local stanza
  stanza=$(printf 'Types: deb\nURIs: %s\nSuites: %s-backports\nComponents: main\nSigned-By: %s\n' "$uri" "$codename" "$key")
  if [ $dry_run = 1 ]; then
    log "would add ${codename}-backports from $uri as $backports_list:"
    echo "$stanza" >&2
    return 0
  fi
  log "adding ${codename}-backports from $uri ($backports_list)"
  echo "$stanza" >"$backports_list"
}

plain=(); back=()
for m in "${missing[@]}"; do
  read -r pkg suite <<<"$m"
  if [ "$suite" = backports ]; then back+=("$pkg"); else plain+=("$pkg"); fi
done
[ ${#back[@]} -gt 0 ] && add_backports "${back[@]}"
if [ $dry_run = 1 ]; then
  [ ${#plain[@]} -gt 0 ] && log "would install ${plain[*]}"
  [ ${#back[@]} -gt 0 ] && log "would install from ${codename}-backports: ${back[*]}"
  exit 0
fi
log "installing $names"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
[ ${#plain[@]} -gt 0 ] && apt-get install -y -qq --no-install-recommends "${plain[@]}" >/dev/null
# backports: libdrm and friends must come from backports too, so let apt pick the suite
[ ${#back[@]} -gt 0 ] && apt-get install -y -qq --no-install-recommends -t "${codename}-backports" "${back[@]}" >/dev/null
# sshd is started by the tests themselves; do not leave the package's own daemon running
if command -v service >/dev/null && [ -x /etc/init.d/ssh ]; then service ssh stop >/dev/null 2>&1 || true; fi
log "done"
