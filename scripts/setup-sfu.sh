#!/usr/bin/env bash
# Builds mediasoup's C++ worker offline against Debian 12's own libraries and installs it where mediasoup looks
# (node_modules/mediasoup/worker/out/Release/mediasoup-worker). Called by scripts/setup.sh; idempotent.
#
# mediasoup 3.12.16 is the newest release that builds here (docs/GROUP-CALLS.md, "The SFU build"): its meson.build
# fetches its dependencies as meson wraps from GitHub, which are replaced by small local subprojects that hand
# mediasoup Debian's libraries through pkg-config. The binary is cached under $MTCALL_CACHE_DIR (default
# ~/.cache/mtcall), keyed by mediasoup's version, this script, the compiler and the Debian packages it links, so it
# survives `npm ci` and is rebuilt only when one of them changes (≈ 4 min on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup-sfu] %s\n' "$*" >&2; }

ms_dir=node_modules/mediasoup
[ -f "$ms_dir/package.json" ] || { log "node_modules/mediasoup is missing: run npm ci first"; exit 1; }
ms_version=$(node -p "require('./$ms_dir/package.json').version")
target="$ms_dir/worker/out/Release/mediasoup-worker"

apt_packages=(build-essential meson ninja-build pkg-config libuv1-dev libssl-dev libsrtp2-dev libusrsctp-dev libabsl-dev nlohmann-json3-dev)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]} from Debian"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

key=$({
  echo "mediasoup $ms_version"
  sha256sum "$0" | cut -d' ' -f1
  uname -m
  c++ --version | head -1
  dpkg-query -W -f='${Package} ${Version}\n' libuv1-dev libssl-dev libsrtp2-dev libusrsctp-dev libabsl-dev nlohmann-json3-dev
} | sha256sum | cut -c1-16)
cache_dir="${MTCALL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mtcall}/mediasoup-worker-$ms_version-$key"

install_worker() {
  mkdir -p "$(dirname "$target")"
  cp "$cache_dir/mediasoup-worker" "$target.tmp" && chmod 755 "$target.tmp" && mv -f "$target.tmp" "$target"
}

if [ -x "$cache_dir/mediasoup-worker" ]; then
  cmp -s "$cache_dir/mediasoup-worker" "$target" 2>/dev/null || install_worker
  exit 0
fi

log "building mediasoup-worker $ms_version against Debian's libraries (a few minutes; cached in $cache_dir)"
build_root=$(mktemp -d "${TMPDIR:-/tmp}/mtcall-mediasoup.XXXXXX")
trap 'rm -rf "$build_root"' EXIT
cp -r "$ms_dir/worker" "$build_root/worker"
cd "$build_root/worker"

# Nothing newer than meson 1.0 is used; Debian 12 has 1.0.1.
sed -i "s/meson_version: '>= 1.1.0'/meson_version: '>= 1.0.0'/" meson.build
grep -q "meson_version: '>= 1.0.0'" meson.build || { log "meson.build changed shape: update scripts/setup-sfu.sh"; exit 1; }

# Each wrap becomes a local subproject declaring the variables mediasoup reads. Where mediasoup also link_whole()s a
# library variable, an empty static library satisfies it: the real code comes from Debian's shared libraries.
rm -rf subprojects
mkdir subprojects
sub() { # name, meson.build body, [meson_options.txt body]
  mkdir -p "subprojects/$1"
  printf "project('%s', 'c')\n%s\n" "$1" "$2" > "subprojects/$1/meson.build"
  [ -z "${3:-}" ] || printf '%s\n' "$3" > "subprojects/$1/meson_options.txt"
  : > "subprojects/$1/empty.c"
}
empty_lib() { echo "$1 = static_library('mtcall_empty_$1', 'empty.c')"; }

sub openssl "openssl_dep = dependency('openssl')
$(empty_lib libcrypto_lib)
$(empty_lib libssl_lib)"
sub nlohmann_json "nlohmann_json_dep = dependency('nlohmann_json')"
sub libuv "libuv_dep = dependency('libuv')
$(empty_lib libuv)" "option('build_tests', type: 'boolean', value: false)
option('build_benchmarks', type: 'boolean', value: false)"
sub libsrtp2 "libsrtp2_dep = declare_dependency(dependencies: dependency('libsrtp2'), include_directories: include_directories('/usr/include/srtp2'))
$(empty_lib libsrtp2)" "option('crypto-library', type: 'string', value: 'openssl')
option('crypto-library-kdf', type: 'feature', value: 'disabled')
option('tests', type: 'feature', value: 'disabled')"
sub usrsctp "usrsctp_dep = dependency('usrsctp')
$(empty_lib usrsctp)" "option('sctp_build_programs', type: 'boolean', value: false)"
sub abseil-cpp "\
absl_container_dep = declare_dependency(dependencies: [dependency('absl_flat_hash_map'), dependency('absl_flat_hash_set'), dependency('absl_btree'), dependency('absl_inlined_vector')])
absl_strings_dep = dependency('absl_strings')
absl_types_dep = declare_dependency(dependencies: [dependency('absl_optional'), dependency('absl_memory')])
$(empty_lib absl_container_lib)"
sub catch2 "catch2_dep = declare_dependency()"

meson setup out/build --buildtype=release -Db_ndebug=true --wrap-mode=nodownload >"$build_root/meson.log" 2>&1 \
  || { tail -40 "$build_root/meson.log" >&2; exit 1; }
ninja -C out/build mediasoup-worker >"$build_root/ninja.log" 2>&1 || { tail -40 "$build_root/ninja.log" >&2; exit 1; }
strip out/build/mediasoup-worker

cd - >/dev/null
mkdir -p "$(dirname "$cache_dir")"
rm -rf "$cache_dir.tmp" && mkdir -p "$cache_dir.tmp"
cp "$build_root/worker/out/build/mediasoup-worker" "$cache_dir.tmp/"
rm -rf "$cache_dir" && mv "$cache_dir.tmp" "$cache_dir"
install_worker
log "mediasoup-worker $ms_version built ($(du -h "$target" | cut -f1))"
