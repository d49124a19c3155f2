#!/bin/bash
# Initrd.Sdk benchmarks against the tools users would pick instead (issue 8; rows from issues 3, 4, 7).
# usage: eng/bench/run.sh [--quick] [--rows 1,2,3,4,5,6,7,8] [--worktree | --overlay PATH,...] [--out NAME]
#   --worktree  benchmark the working tree's sdk/ and tasks/ (default: the committed HEAD, via git archive,
#               so that edits in progress neither break nor colour the run)
#   --overlay   HEAD (git archive) with only these paths (files or folders, relative to the repository) taken
#               from the working tree: one change measured while others edit other parts of the tree
#   --quick   one sample per cell (proves the harness works); default: BENCH_N samples (3), cheap rows 5
#   --rows    only these rows (sizes, row 4, need row 3's outputs); --rows 1 is the resolve rows alone
#   --out     results file name under eng/bench/results (default: the date), e.g. 2026-11-22-resolve
# Work happens under $BENCH_DIR (default /var/tmp/initrd-bench), outside the repository; results go to
# eng/bench/results/<date>.md and .json. Runs as root (the peers need chroot and mounts).
# No mirror host is written anywhere: every URI comes from the host's apt configuration.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
repo=$(readlink -f "$here/../..")
peers=$(readlink -f "$repo/../shared/peers")
quick=0; rows=1,2,3,4,5,6,7,8; worktree=0; overlay=; out=
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --rows) rows=$2; shift ;;
    --worktree) worktree=1 ;;
    --overlay) overlay=$2; shift ;;
    --out) out=$2; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac; shift
done
if [ $quick = 1 ]; then N=1; NCHEAP=1; else N=${BENCH_N:-3}; NCHEAP=${BENCH_NCHEAP:-5}; fi
want() { [[ ",$rows," == *",$1,"* ]]; }

B=${BENCH_DIR:-/var/tmp/initrd-bench}
TOOLS=${BENCH_TOOLS:-$B/tools}            # trixie tools tree (mkosi-initrd 25)
DRACUT=${BENCH_DRACUT:-$B/bookworm-dracut} # bookworm tree with dracut + bookworm kernel
W=$B/work; mkdir -p "$W"
# apt and mkosi print the archive URIs they fetch from; keep the host out of every file we leave behind
# rows 7 and 8 keep /proc and /dev mounted in the tools tree while they run (systemd-repart needs them)
tools_umount() { for m in dev proc; do mountpoint -q "$TOOLS/$m" && { umount -R "$TOOLS/$m" 2>/dev/null || umount -l "$TOOLS/$m"; }; done; true; }
trap 'tools_umount; sed -i "s#://[^/ ]*#://<mirror>#g" "$W"/*.log "$LOG" 2>/dev/null || true' EXIT
SAMPLES=$W/samples.tsv; : > "$SAMPLES"
INFO=$W/info.tsv; : > "$INFO"
LOG=$W/log.txt; : > "$LOG"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 MSBUILDDISABLENODEREUSE=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
export NUGET_PACKAGES=$W/nuget-packages

say() { echo "[bench $(date +%T) load $(cut -d' ' -f1 /proc/loadavg)] $*" | tee -a "$LOG" >&2; }
info() { printf '%s\t%s\n' "$1" "$2" >> "$INFO"; }
# sample ROW SIDE VALUE UNIT: one measurement (SIDE: ours, or a peer's name, or limit)
sample() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$(cut -d' ' -f1 /proc/loadavg)" >> "$SAMPLES"; }
now() { date +%s.%N; }
# timed ROW SIDE CMD...: runs CMD (output to the log), records wall seconds; fails the run if CMD fails
timed() {
  local row=$1 side=$2; shift 2
  local t0 t1; t0=$(now)
  if ! "$@" >> "$LOG" 2>&1; then say "FAILED: $row $side: $*"; tail -30 "$LOG" >&2; return 1; fi
  t1=$(now); sample "$row" "$side" "$(echo "$t1 - $t0" | bc -l)" s
}

[ "$(id -u)" = 0 ] || { echo "run as root (the peers chroot and mount)" >&2; exit 1; }
mirror=$("$peers/host-mirror.sh")
security=$(for f in /etc/apt/sources.list.d/*.sources; do [ -f "$f" ] && awk 'BEGIN{RS=""} /Suites:[^\n]*-security/ {for(i=1;i<=NF;i++) if ($i=="URIs:") print $(i+1)}' "$f"; done | head -1)

# ---- machine ---------------------------------------------------------------------------------------
info cpu "$(lscpu | sed -n 's/^Model name: *//p' | head -1)"
info cores "$(nproc)"
info ram "$(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
info kernel "$(uname -r)"
info loadavg_start "$(cut -d' ' -f1-3 /proc/loadavg)"
info mode "$([ $quick = 1 ] && echo quick || echo full) (n=$N, cheap rows n=$NCHEAP)"
info dotnet "$(dotnet --version)"
info apt "$(apt-get --version | head -1)"
info zstd "$(zstd --version)"
info cpio "$(cpio --version | head -1)"
info qemu "$(qemu-system-x86_64 --version | head -1)"
if [ $worktree = 1 ]; then
  src=$repo
  info commit "$(git -C "$repo" rev-parse --short HEAD) + working tree$(git -C "$repo" diff --quiet HEAD -- sdk tasks || echo ' (uncommitted changes in sdk/ tasks/)')"
else
  src=$W/src; rm -rf "$src"; mkdir -p "$src"; git -C "$repo" archive HEAD | tar -x -C "$src"
  if [ -n "$overlay" ]; then
    for o in ${overlay//,/ }; do
      [ -e "$repo/$o" ] || { echo "--overlay: $o does not exist in the working tree" >&2; exit 2; }
      rm -rf "${src:?}/$o"; mkdir -p "$(dirname "$src/$o")"; cp -a "$repo/$o" "$src/$o"
    done
    info commit "$(git -C "$repo" rev-parse --short HEAD) (git archive of HEAD) + working tree of: ${overlay//,/, }"
  else
    info commit "$(git -C "$repo" rev-parse --short HEAD) (git archive of HEAD)"
  fi
fi

# ---- our SDK as a package, and the template outside the repository -----------------------------------
FEED=$W/feed; VER=0.1.0-bench
say "packing Initrd.Sdk $VER"
rm -rf "$FEED" "$NUGET_PACKAGES"; mkdir -p "$FEED"
dotnet pack "$src/eng/Packaging/Initrd.Sdk.Package.csproj" -o "$FEED" -p:Version=$VER -nologo -v:q -nodeReuse:false >> "$LOG" 2>&1
CACHE=$W/cache                      # InitrdCacheDirectory used by every row but the cold ones
P=$W/ours; rm -rf "$P"; mkdir -p "$P/files/etc"
sed "s#Sdk=\"Initrd.Sdk\"#Sdk=\"Initrd.Sdk/$VER\"#; s#</Project>#  <ItemGroup>\n    <!-- benchmark: one extra file, changed by the 'one ImageFile changed' row -->\n    <ImageFile Include=\"files/**\" />\n  </ItemGroup>\n</Project>#" \
  "$src/templates/content/initrd/MyInitrd.initrdproj" > "$P/MyInitrd.initrdproj"
# the lock may not be committed: take the working tree's, else the first build resolves one
for l in "$src" "$repo"; do [ -f "$l/templates/content/initrd/packages.lock.json" ] && { cp "$l/templates/content/initrd/packages.lock.json" "$P/"; break; }; done
echo "bench 0" > "$P/files/etc/initrd-bench"
cat > "$W/NuGet.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration><packageSources><add key="initrd-bench" value="$FEED" /></packageSources></configuration>
XML
jq 'del(."msbuild-sdks")' "$src/global.json" > "$W/global.json"
proj=$P/MyInitrd.initrdproj
ours_build() { dotnet build "$proj" -nologo -v:m -nodeReuse:false -p:InitrdCacheDirectory="${1:-$CACHE}" "${@:2}"; }
ours_clean() { rm -rf "$P/obj" "$P/bin"; }
if [ "$rows" != 1 ]; then   # the resolve rows fill the metadata cache themselves
  say "first build of the packed SDK (fills $CACHE unless already full)"
  ours_clean; timed first-build ours ours_build
fi

# ---- row 1: resolve ----------------------------------------------------------------------------------
APT=$W/apt
apt_setup() {
  rm -rf "$APT"; mkdir -p "$APT"/{state/lists/partial,cache/archives/partial,etc/sources.list.d,etc/apt.conf.d,etc/preferences.d}
  { echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie-updates main"
    [ -n "$security" ] && echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $security trixie-security main"; } > "$APT/etc/sources.list"
  : > "$APT/status"; : > "$APT/etc/empty.conf"
  printf 'Dir::Etc::Parts "%s/etc/apt.conf.d";\nDir::Etc::Main "%s/etc/empty.conf";\nDir::Etc::Preferences "%s/etc/empty.conf";\nDir::Etc::PreferencesParts "%s/etc/preferences.d";\n' "$APT" "$APT" "$APT" "$APT" > "$APT/etc/apt.conf"
}
aptc() {
  APT_CONFIG=$APT/etc/apt.conf apt-get -o Dir::State="$APT/state" -o Dir::Cache="$APT/cache" \
    -o Dir::Etc::SourceList="$APT/etc/sources.list" -o Dir::Etc::SourceParts="$APT/etc/sources.list.d" \
    -o Dir::State::status="$APT/status" -o APT::Architecture=amd64 -o APT::Architectures=amd64 \
    -o APT::Install-Recommends=false -o Debug::NoLocking=1 -o Acquire::Languages=none \
    -o Acquire::GzipIndexes=false -o APT::Sandbox::User=root "$@" 2>&1 | sed 's#://[^/ ]*#://<mirror>#g'
  return "${PIPESTATUS[0]}"
}
PKGS=$(sed -n 's/.*<ImagePackage Include="\([^"]*\)".*/\1/p' "$proj" | tr ';\n' '  ')
KPKGS=$(sed -n 's/.*<KernelPackage Include="\([^"]*\)".*/\1/p' "$proj" | tr ';\n' '  ')
R=$W/resolve; rm -rf "$R"; mkdir -p "$R"; cp "$proj" "$R/"; cp -r "$P/files" "$R/"
# The lock is deleted each time, so every run is a real resolve (no "lock up to date" short cut).
ours_resolve() { rm -rf "$R/obj" "$R/packages.lock.json"; dotnet restore "$R/MyInitrd.initrdproj" -nologo -v:m -nodeReuse:false -p:InitrdCacheDirectory="$1"; }
# stage_sample ROW: the Resolve stage's own time and its metadata part, from the line the task logs (last in the log)
stage_sample() {
  local line; line=$(grep -a 'Resolve: .* packages .* suites in' "$LOG" | tail -1)
  [ -n "$line" ] || return 0
  sample "$1" stage "$(sed -n 's/.* suites in \([0-9.]*\) s (metadata.*/\1/p' <<< "$line")" s
  sample "$1" metadata "$(sed -n 's/.*(metadata \([0-9.]*\) s).*/\1/p' <<< "$line")" s
}
apt_resolve() { aptc install -s -q $PKGS $KPKGS > "$W/apt-install-s.txt"; }
apt_cold() { apt_setup; aptc update -q && apt_resolve; }
if want 1; then
  say "row 1: resolve"
  apt_setup; aptc update -q >> "$LOG" 2>&1
  ours_resolve "$CACHE" >> "$LOG" 2>&1; apt_resolve   # warm-up both
  for i in $(seq $NCHEAP); do timed resolve-warm ours ours_resolve "$CACHE"; stage_sample resolve-warm-stage; timed resolve-warm apt-get apt_resolve; done
  info resolve_ours_packages "$(jq '.packages | length' "$R/packages.lock.json")"
  info resolve_apt_packages "$(grep -c '^Inst ' "$W/apt-install-s.txt")"
  for i in $(seq $N); do
    rm -rf "$W/cache-cold-resolve"; timed resolve-cold ours ours_resolve "$W/cache-cold-resolve"; stage_sample resolve-cold-stage
    timed resolve-cold apt-get apt_cold
  done
  rm -rf "$W/cache-cold-resolve"
fi

# ---- row 2: cpio + zstd of the default tree ------------------------------------------------------------
T=$W/tree
if want 2 || want 4; then
  ours_build >> "$LOG" 2>&1
  rm -rf "$T"; mkdir -p "$T"
  zstd -dcq "$P/bin/Debug/MyInitrd.cpio.zst" > "$W/ours.cpio"
  (cd "$T" && cpio -idm --quiet < "$W/ours.cpio")
fi
manifest=$P/obj/Debug/initrd.tree
ours_pack() {
  touch "$manifest"
  ours_build "" -clp:PerformanceSummary > "$W/pack.out" 2>&1 || { cat "$W/pack.out" >> "$LOG"; return 1; }
  awk '/Task Performance Summary/ {s=1} s && / WriteCpioImage / {print $1; exit}' "$W/pack.out"
}
peer_pack() { (cd "$T" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --reproducible --quiet | zstd -3 -T0 -q > "$W/peer.cpio.zst"); }
raw_zstd() { zstd -3 -T0 -q -f "$W/ours.cpio" -o "$W/raw.zst"; }
if want 2; then
  say "row 2: cpio+zstd"
  [ -f "$manifest" ] || { say "no $manifest: the manifest has moved, row 2 skipped"; }
  info pack_input_bytes "$(stat -c %s "$W/ours.cpio")"
  peer_pack; raw_zstd   # page cache warm
  for i in $(seq $NCHEAP); do
    t0=$(now); ms=$(ours_pack); t1=$(now)
    [ -n "$ms" ] && sample pack ours "$(echo "$ms / 1000" | bc -l)" s
    sample pack-incremental-build ours "$(echo "$t1 - $t0" | bc -l)" s
    timed pack find-cpio-zstd peer_pack
    timed pack raw-zstd raw_zstd
  done
  info pack_output_bytes_ours "$(stat -c %s "$P/bin/Debug/MyInitrd.cpio.zst")"
  info pack_output_bytes_peer "$(stat -c %s "$W/peer.cpio.zst")"
fi

# ---- row 3: builds ---------------------------------------------------------------------------------
have_tools() { [ -x "$TOOLS/usr/bin/mkosi" ]; }
have_dracut() { [ -x "$DRACUT/usr/bin/dracut" ]; }
MO=$TOOLS/var/tmp/bench-out
mkosi_build() {   # $1 = cold|warm
  # trixie-tools.sh installs no firmware package; mkosi-initrd-debian.sh names the folder as an extra tree
  mkdir -p "$MO" "$TOOLS/usr/lib/firmware"; cp "$peers/mkosi-initrd-debian.sh" "$TOOLS/usr/local/bin/"
  if [ "$1" = cold ]; then
    rm -rf "$TOOLS"/var/cache/apt/archives/*.deb "$TOOLS"/var/cache/apt/*.bin "$TOOLS"/var/lib/apt/lists/*_Packages* "$TOOLS"/var/lib/apt/lists/*Release*
    "$peers/in-tools.sh" "$TOOLS" /usr/local/bin/mkosi-initrd-debian.sh /var/tmp/bench-out/mkosi.cpio --cache-only=never
  else
    "$peers/in-tools.sh" "$TOOLS" /usr/local/bin/mkosi-initrd-debian.sh /var/tmp/bench-out/mkosi.cpio
  fi
}
dracut_build() {
  local kver; kver=$(ls "$DRACUT/usr/lib/modules" | sort -V | tail -1)
  "$peers/in-tools.sh" "$DRACUT" dracut --no-hostonly --zstd --force --kver "$kver" /var/tmp/dracut.img
}
# The peers must build for the kernel our lock names (the tools tree's trixie kernel lags the security
# suite), from the same suites: add trixie-updates and trixie-security to the tree and install that kernel.
# mkosi-initrd-debian.sh copies the tree's /etc/apt into mkosi's sandbox and takes the newest kernel.
ours_kver=$([ -f "$P/packages.lock.json" ] && jq -r '.packages | keys[] | select(startswith("linux-image-")) | select(. != "linux-image-amd64")' "$P/packages.lock.json" | head -1 || true)
tools_prepare() {
  [ -d "$TOOLS/usr/lib/modules/${ours_kver#linux-image-}" ] && return 0
  { echo "deb $mirror trixie main"; echo "deb $mirror trixie-updates main"; [ -n "$security" ] && echo "deb $security trixie-security main"; } > "$TOOLS/etc/apt/sources.list"
  "$peers/in-tools.sh" "$TOOLS" apt-get update -q
  "$peers/in-tools.sh" "$TOOLS" apt-get install -y -q --no-install-recommends "$ours_kver"
}
if want 3 && have_tools; then say "preparing the tools tree for $ours_kver"; tools_prepare 2>&1 | sed 's#://[^/ ]*#://<mirror>#g' >> "$LOG"; fi
if want 3; then
  say "row 3: builds"
  have_tools || say "no tools tree at $TOOLS ($peers/trixie-tools.sh $TOOLS makes it): mkosi-initrd rows skipped"
  have_dracut || say "no dracut tree at $DRACUT: dracut rows skipped"
  have_tools && mkosi_build warm >> "$LOG" 2>&1 || true   # fills mkosi's metadata once
  for i in $(seq $N); do
    rm -rf "$W/cache-cold"; ours_clean; timed build-cold ours ours_build "$W/cache-cold"
    have_tools && timed build-cold mkosi-initrd mkosi_build cold
    have_dracut && timed build-cold dracut dracut_build
  done
  rm -rf "$W/cache-cold"
  for i in $(seq $N); do
    rm -rf "$CACHE/trees"; ours_clean; timed build-warm ours ours_build
    have_tools && timed build-warm mkosi-initrd mkosi_build warm
    have_dracut && timed build-warm dracut dracut_build
  done
  ours_build >> "$LOG" 2>&1
  for i in $(seq $NCHEAP); do timed build-noop ours ours_build; done
  for i in $(seq $NCHEAP); do echo "bench $i $RANDOM" > "$P/files/etc/initrd-bench"; timed build-one-file ours ours_build; done
  info peers_noop_and_one_file "mkosi-initrd and dracut have no incremental mode: their no-op and one-file rebuilds are full warm builds; the table repeats their warm samples"
  python3 - "$SAMPLES" <<'PY'
import sys
rows=[l.rstrip('\n').split('\t') for l in open(sys.argv[1])]
out=open(sys.argv[1],'a')
for r in rows:
    if r[0]=='build-warm' and r[1]!='ours':
        for row in ('build-noop','build-one-file'): out.write('\t'.join([row]+r[1:])+'\n')
PY
fi

# ---- row 4: sizes ------------------------------------------------------------------------------------
unpack_any() {   # FILE DIR: unpacks an initrd (plain, zstd, or early cpio + compressed cpio)
  local f=$1 d=$2; rm -rf "$d"; mkdir -p "$d"
  python3 "$here/initrd_split.py" "$f" "$d.parts"
  for part in "$d".parts/*; do (cd "$d" && cpio -idm --quiet --no-absolute-filenames < "$part" 2>/dev/null || true); done
}
sizes() {  # SIDE FILE
  local side=$1 f=$2 d=$W/unpacked-$1
  unpack_any "$f" "$d"
  sample size-compressed "$side" "$(stat -c %s "$f")" B
  sample size-uncompressed "$side" "$(cat "$d".parts/* | wc -c)" B
  sample size-entries "$side" "$(find "$d" -mindepth 1 | wc -l)" n
  local m=$d/usr/lib/modules; [ -d "$m" ] || m=$d/lib/modules
  sample size-modules "$side" "$(du -sb "$m" 2>/dev/null | cut -f1)" B
  sample size-module-count "$side" "$(find "$m" -name '*.ko*' 2>/dev/null | wc -l)" n
}
if want 4; then
  say "row 4: sizes"
  [ -f "$P/bin/Debug/MyInitrd.cpio.zst" ] || ours_build >> "$LOG" 2>&1
  sizes ours "$P/bin/Debug/MyInitrd.cpio.zst"
  [ -f "$MO/mkosi.cpio" ] && sizes mkosi-initrd "$MO/mkosi.cpio"
  [ -f "$DRACUT/var/tmp/dracut.img" ] && sizes dracut "$DRACUT/var/tmp/dracut.img"
fi

# ---- row 5: boot -----------------------------------------------------------------------------------
ROOTIMG=$W/root.ext4
make_root() {
  local r=$W/root; rm -rf "$r" "$W/bb"; mkdir -p "$r"/{bin,sbin,proc,sys,dev,run,tmp,etc} "$W/bb"
  (cd "$W/bb" && apt-get download -q busybox-static >> "$LOG" 2>&1 && dpkg-deb -x busybox-static_*.deb x)
  cp "$W/bb/x/bin/busybox" "$r/bin/busybox"; ln -s busybox "$r/bin/sh"
  printf '#!/bin/busybox sh\n/bin/busybox mount -t proc proc /proc 2>/dev/null\nread up idle < /proc/uptime\necho "BENCH-ROOT-UP $up"\n/bin/busybox poweroff -f\n' > "$r/sbin/init"
  chmod 755 "$r/sbin/init"; touch "$r/etc/os-release"
  rm -f "$ROOTIMG"; mkfs.ext4 -q -F -d "$r" "$ROOTIMG" 64M
}
boot() {  # SIDE KERNEL INITRD
  local side=$1 log=$W/boot-$1-$RANDOM.log t0 t1
  t0=$(now)
  timeout 180 qemu-system-x86_64 -accel tcg,thread=multi -cpu max -smp 2 -m 1536 -nographic -no-reboot -nodefaults \
    -serial mon:stdio -kernel "$2" -initrd "$3" \
    -append "console=ttyS0 root=/dev/vda rw panic=-1 printk.devkmsg=on systemd.log_target=kmsg systemd.log_level=info" \
    -drive file="$ROOTIMG",if=virtio,format=raw < /dev/null > "$log" 2>&1 || true
  t1=$(now)
  if ! grep -q BENCH-ROOT-UP "$log"; then say "boot $side did not reach the test root (log $log)"; return 0; fi
  sample boot-host-wall "$side" "$(echo "$t1 - $t0" | bc -l)" s
  local it sr up
  it=$(grep -a 'Reached target initrd.target' "$log" | sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p' | head -1)
  sr=$(grep -a 'Switching root' "$log" | sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p' | head -1)
  up=$(grep -a 'BENCH-ROOT-UP' "$log" | sed -n 's/.*BENCH-ROOT-UP \([0-9.]*\).*/\1/p' | head -1)
  [ -n "$it" ] && sample boot-initrd-target "$side" "$it" s
  [ -n "$sr" ] && sample boot-switch-root "$side" "$sr" s
  [ -n "$up" ] && sample boot-root-init "$side" "$up" s
}
if want 5; then
  say "row 5: boot"
  make_root >> "$LOG" 2>&1
  K=$P/bin/Debug/MyInitrd.vmlinuz
  info boot_kernel "$ours_kver (ours, from the lock); mkosi-initrd's initrd is for $(ls "$TOOLS/usr/lib/modules" 2>/dev/null | sort -V | tail -1)"
  for i in $(seq $N); do
    boot ours "$K" "$P/bin/Debug/MyInitrd.cpio.zst"
    [ -f "$MO/mkosi.cpio" ] && boot mkosi-initrd "$K" "$MO/mkosi.cpio"
  done
fi

# ---- row 6: no-op rebuild against an empty project of the same shape ------------------------------------------
if want 6; then
  say "row 6: no-op vs empty project"
  E=$W/empty; rm -rf "$E"; mkdir -p "$E"
  cat > "$E/Empty.proj" <<'XML'
<Project DefaultTargets="Build">
  <!-- The shape of an image project with nothing to do: a Restore and a Build target, one input, one output.
       DefaultTargets: without it the first target (Restore) is the default, and Build never runs. -->
  <Target Name="Restore" />
  <Target Name="Build" Inputs="$(MSBuildProjectFullPath)" Outputs="$(MSBuildProjectDirectory)/obj/stamp">
    <MakeDir Directories="$(MSBuildProjectDirectory)/obj" />
    <Touch Files="$(MSBuildProjectDirectory)/obj/stamp" AlwaysCreate="true" />
  </Target>
</Project>
XML
  NT=$W/notargets; mkdir -p "$NT"
  printf '<Project Sdk="Microsoft.Build.NoTargets/3.7.0">\n  <PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup>\n</Project>\n' > "$NT/NoTargets.csproj"
  # The same shape as ours: an MSBuild SDK *package* (PackageType MSBuildSdk, Sdk/Sdk.props + Sdk/Sdk.targets with
  # Empty.proj's two targets), packed into the same local feed and consumed the same way (Sdk="Name/Version", the same
  # NuGet.config, global.json and NUGET_PACKAGES), so the NuGet SDK resolver costs both sides the same.
  ES=$W/empty-sdk-src; rm -rf "$ES"; mkdir -p "$ES/Sdk"
  cat > "$ES/Bench.EmptySdk.csproj" <<'XML'
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <TargetFramework>net10.0</TargetFramework>
    <PackageId>Bench.EmptySdk</PackageId>
    <PackageType>MSBuildSdk</PackageType>
    <IncludeBuildOutput>false</IncludeBuildOutput>
    <EnableDefaultItems>false</EnableDefaultItems>
    <SuppressDependenciesWhenPacking>true</SuppressDependenciesWhenPacking>
    <NoWarn>$(NoWarn);NU5128</NoWarn>
  </PropertyGroup>
  <ItemGroup><None Include="Sdk/Sdk.props;Sdk/Sdk.targets" Pack="true" PackagePath="Sdk/" /></ItemGroup>
</Project>
XML
  printf '<Project DefaultTargets="Build">\n</Project>\n' > "$ES/Sdk/Sdk.props"
  # Sdk.targets: Empty.proj itself, its DefaultTargets moved to Sdk.props above
  sed 's/<Project DefaultTargets="Build">/<Project>/' "$E/Empty.proj" > "$ES/Sdk/Sdk.targets"
  dotnet pack "$ES/Bench.EmptySdk.csproj" -o "$FEED" -p:Version=$VER -nologo -v:q -nodeReuse:false >> "$LOG" 2>&1
  EP=$W/empty-sdk; rm -rf "$EP"; mkdir -p "$EP"
  printf '<Project Sdk="Bench.EmptySdk/%s" />\n' "$VER" > "$EP/EmptySdk.proj"
  ours_build >> "$LOG" 2>&1
  dotnet build "$E/Empty.proj" -nologo -v:m -nodeReuse:false >> "$LOG" 2>&1
  es=1; dotnet build "$EP/EmptySdk.proj" -nologo -v:m -nodeReuse:false >> "$LOG" 2>&1 || { es=0; say "the empty SDK package did not build: that column skipped"; }
  nt=1; dotnet build "$NT/NoTargets.csproj" -nologo -v:m -nodeReuse:false >> "$LOG" 2>&1 || { nt=0; say "NoTargets SDK not restorable: that column skipped"; }
  for i in $(seq $NCHEAP); do
    timed noop ours ours_build
    [ $es = 1 ] && timed noop empty-sdk dotnet build "$EP/EmptySdk.proj" -nologo -v:m -nodeReuse:false
    timed noop empty-project dotnet build "$E/Empty.proj" -nologo -v:m -nodeReuse:false
    [ $nt = 1 ] && timed noop notargets-sdk dotnet build "$NT/NoTargets.csproj" -nologo -v:m -nodeReuse:false
  done
fi

# ---- rows 7 and 8: the UKI and the sysext pack stages against ukify / objcopy and systemd-repart / mkfs.erofs -------
# Ours: the whole `dotnet build` of a project whose Resolve/Fetch/Install/Finalize are up to date, after one property
# that only the pack stage reads changed (checked once per row with a detailed log: info *_incremental), plus the pack
# task's own time from its "Pack: … in X s" line. Peers: the same inputs, taken from our own outputs.
KEYS=$W/keys
keys_make() {   # a throwaway Secure Boot / Verity signing pair, shared by every side
  [ -f "$KEYS/db.crt" ] && return 0; mkdir -p "$KEYS"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$KEYS/db.key" -out "$KEYS/db.crt" -days 3650 -subj /CN=initrd-bench >> "$LOG" 2>&1
}
tools_mount() {
  mountpoint -q "$TOOLS/proc" || mount -t proc proc "$TOOLS/proc"
  mountpoint -q "$TOOLS/dev" || { mount --rbind /dev "$TOOLS/dev"; mount --make-rslave "$TOOLS/dev"; }
}
image_build() { dotnet build "$1" -nologo -v:m -nodeReuse:false -p:InitrdCacheDirectory="$CACHE"; }
# stage_build ROW STAGE_ROW STAGE_SIDE PROJ: one whole `dotnet build` (a sample of ROW, side ours) and the pack task's own
# time from its "Pack: … in X s" line (a sample of STAGE_ROW, side STAGE_SIDE)
stage_build() {
  local row=$1 srow=$2 sside=$3 out=$W/stage.out t0 t1 s
  t0=$(now)
  if ! image_build "$4" > "$out" 2>&1; then cat "$out" >> "$LOG"; say "FAILED: $row ours: $4"; tail -30 "$out" >&2; return 1; fi
  t1=$(now); cat "$out" >> "$LOG"
  sample "$row" ours "$(echo "$t1 - $t0" | bc -l)" s
  s=$(grep -a ' Pack: ' "$out" | grep -o ' in [0-9.]* s' | tail -1 | tr -dc '0-9.')
  if [ -n "$s" ]; then sample "$srow" "$sside" "$s" s; else say "$row: no 'Pack: … in X s' line, so the pack stage did not run"; fi
}
# ran_targets PROJ: which targets ran and which were skipped as up to date, from one build at detailed verbosity
ran_targets() {
  dotnet build "$1" -nologo -v:d -nodeReuse:false -p:InitrdCacheDirectory="$CACHE" > "$W/targets.out" 2>&1 || { cat "$W/targets.out" >> "$LOG"; return 1; }
  local ran skipped
  ran=$(sed -n 's/.*Building target "\([^"]*\)" \(completely\|partially\).*/\1/p' "$W/targets.out" | sort -u | tr '\n' ' ')
  skipped=$(sed -n 's/.*Skipping target "\([^"]*\)" because all output files are up-to-date.*/\1/p' "$W/targets.out" | sort -u | tr '\n' ' ')
  echo "targets with Inputs/Outputs that ran: ${ran:-none}; skipped as up to date: ${skipped:-none}"
}
ddi_check() {   # FILE: the root partition verified against root-verity (veritysetup verify) with the rootHash of the
  # root-verity-sig JSON, and that JSON's signature verified by openssl against the bench certificate
  local f=$1 d=$W/ddi-check start size type n rh; rm -rf "$d"; mkdir -p "$d"
  while read -r start size type; do
    case ${type,,} in 4f68bce3-*) n=root ;; 2c7357ed-*) n=verity ;; 41092b05-*) n=sig ;; *) continue ;; esac
    dd if="$f" of="$d/$n" bs=512 skip="$start" count="$size" status=none
  done <<< "$(sfdisk -J "$f" | jq -r '.partitiontable.partitions[] | "\(.start) \(.size) \(.type)"')"
  rh=$(tr -d '\0' < "$d/sig" | jq -r .rootHash); printf %s "$rh" > "$d/rh"
  tr -d '\0' < "$d/sig" | jq -r .signature | base64 -d > "$d/sig.der"
  if veritysetup verify "$d/root" "$d/verity" "$rh" > /dev/null 2>&1; then printf 'verity ok'; else printf 'verity FAILED'; fi
  if openssl smime -verify -binary -inform DER -in "$d/sig.der" -content "$d/rh" -CAfile "$KEYS/db.crt" -purpose any > /dev/null 2>&1
  then printf ', signature ok'; else printf ', signature FAILED'; fi
  rm -rf "$d"
}
kpkg=${ours_kver:-linux-image-amd64}   # the initrd's kernel, so that the UKI's kernel matches its modules (INITRD7016)

for r in 7 8; do want $r && ! have_tools && say "no tools tree at $TOOLS ($peers/trixie-tools.sh $TOOLS makes it): row $r skipped"; done
if want 7 && have_tools; then
  say "row 7: UKI"
  keys_make
  U=$W/uki; US=$W/uki-signed
  uki_project() {   # SIGNED(0|1): a UKI of the bench's initrd, as the uki template makes it
    printf '<Project Sdk="Initrd.Sdk/%s">\n  <PropertyGroup>\n    <ImageFormat>uki</ImageFormat>\n' "$VER"
    printf '    <Distribution>debian</Distribution>\n    <Release>trixie</Release>\n    <Architecture>amd64</Architecture>\n'
    printf '    <KernelCommandLine>console=ttyS0 bench=0</KernelCommandLine>\n'
    [ "$1" = 1 ] && printf '    <ImageSigningKey>%s</ImageSigningKey>\n    <ImageSigningCertificate>%s</ImageSigningCertificate>\n' "$KEYS/db.key" "$KEYS/db.crt"
    printf '  </PropertyGroup>\n  <ItemGroup>\n    <KernelPackage Include="%s" />\n    <ProjectReference Include="%s" />\n  </ItemGroup>\n</Project>\n' "$kpkg" "$proj"
  }
  for s in 0 1; do d=$U; [ $s = 1 ] && d=$US; rm -rf "$d"; mkdir -p "$d"; uki_project $s > "$d/BenchUki.initrdproj"; done
  image_build "$U/BenchUki.initrdproj" >> "$LOG" 2>&1; image_build "$US/BenchUki.initrdproj" >> "$LOG" 2>&1
  sed -i 's#bench=[0-9]*#bench=check#' "$U/BenchUki.initrdproj"
  info uki_incremental "after KernelCommandLine changed: $(ran_targets "$U/BenchUki.initrdproj")"
  # the peers' inputs: our initrd and kernel, the stub from the UKI's own install tree, os-release and uname as we embed them
  TU=$TOOLS/var/tmp/bench-uki; rm -rf "$TU"; mkdir -p "$TU"
  cp "$P/bin/Debug/MyInitrd.cpio.zst" "$TU/initrd.cpio.zst"; cp "$P/bin/Debug/MyInitrd.vmlinuz" "$TU/vmlinuz"
  stub=$(ls -t "$CACHE"/trees/*/root/usr/lib/systemd/boot/efi/linuxx64.efi.stub | head -1); cp "$stub" "$TU/linuxx64.efi.stub"
  objcopy --dump-section .osrel="$TU/osrel" --dump-section .uname="$TU/uname" "$U/bin/Debug/BenchUki.efi" "$W/uki-copy.efi"; rm -f "$W/uki-copy.efi"
  tr -d '\0' < "$TU/uname" > "$TU/uname.txt"; mv "$TU/uname.txt" "$TU/uname"; uname_=$(cat "$TU/uname")
  printf %s "console=ttyS0 bench=0" > "$TU/cmdline"
  cp "$KEYS/db.key" "$KEYS/db.crt" "$here/uki-objcopy.sh" "$TU/"
  info uki_inputs "initrd $(stat -c %s "$TU/initrd.cpio.zst") B, kernel $(stat -c %s "$TU/vmlinuz") B ($uname_), stub systemd-boot-efi $(jq -r '.packages["systemd-boot-efi"].version // "?"' "$US/packages.lock.json") from the UKI's lock (tools tree: $(chroot "$TOOLS" dpkg-query -W -f='${Version}' systemd-boot-efi)), $(chroot "$TOOLS" ukify --version), binutils $(chroot "$TOOLS" dpkg-query -W -f='${Version}' binutils), sbsigntool $(chroot "$TOOLS" dpkg-query -W -f='${Version}' sbsigntool)"
  ukify_build() {   # OUT [signed]
    rm -f "$TU/$1"
    chroot "$TOOLS" ukify build --linux /var/tmp/bench-uki/vmlinuz --initrd /var/tmp/bench-uki/initrd.cpio.zst \
      --stub /var/tmp/bench-uki/linuxx64.efi.stub --cmdline @/var/tmp/bench-uki/cmdline --os-release @/var/tmp/bench-uki/osrel \
      --uname "$uname_" ${2:+--secureboot-private-key /var/tmp/bench-uki/db.key --secureboot-certificate /var/tmp/bench-uki/db.crt} \
      --output "/var/tmp/bench-uki/$1"
  }
  objcopy_build() {   # OUT [signed]
    rm -f "$TU/$1"
    chroot "$TOOLS" /var/tmp/bench-uki/uki-objcopy.sh /var/tmp/bench-uki/linuxx64.efi.stub /var/tmp/bench-uki/osrel \
      /var/tmp/bench-uki/cmdline /var/tmp/bench-uki/uname /var/tmp/bench-uki/initrd.cpio.zst /var/tmp/bench-uki/vmlinuz \
      "/var/tmp/bench-uki/$1" ${2:+/var/tmp/bench-uki/db.key /var/tmp/bench-uki/db.crt}
  }
  ukify_build u.efi >> "$LOG" 2>&1; objcopy_build o.efi >> "$LOG" 2>&1   # warm-up (page cache, python)
  for i in $(seq $NCHEAP); do
    sed -i "s#bench=[0-9a-z]*#bench=$i#" "$U/BenchUki.initrdproj" "$US/BenchUki.initrdproj"
    stage_build uki uki-stage unsigned "$U/BenchUki.initrdproj"
    timed uki ukify ukify_build u.efi
    timed uki objcopy objcopy_build o.efi
    stage_build uki-signed uki-stage signed "$US/BenchUki.initrdproj"
    timed uki-signed ukify ukify_build s.efi 1
    timed uki-signed objcopy-sbsign objcopy_build os.efi 1
    timed uki-noop ours image_build "$U/BenchUki.initrdproj"   # nothing changed: row 7's floor
  done
  sample uki-size ours "$(stat -c %s "$U/bin/Debug/BenchUki.efi")" B
  sample uki-size ukify "$(stat -c %s "$TU/u.efi")" B
  sample uki-size objcopy "$(stat -c %s "$TU/o.efi")" B
  { for f in "$U/bin/Debug/BenchUki.efi" "$TU/u.efi" "$TU/o.efi"; do echo "== $f"; objdump -h "$f" | awk 'NF == 7 && $1 ~ /^[0-9]+$/ {print $2, $3, $4}'; done
    for f in "$US/bin/Debug/BenchUki.efi" "$TU/s.efi" "$TU/os.efi"; do echo "== $f"; sbverify --cert "$KEYS/db.crt" "$f"; done; } >> "$LOG" 2>&1
  info uki_signed_verify "$(for f in "$US/bin/Debug/BenchUki.efi" "$TU/s.efi" "$TU/os.efi"; do printf '%s: %s; ' "${f##*/}" "$(sbverify --cert "$KEYS/db.crt" "$f" 2>&1 | tail -1)"; done)"
fi

if want 8 && have_tools; then
  say "row 8: sysext"
  keys_make
  X=$W/sysext; XS=$W/sysext-signed
  sysext_project() {   # SIGNED(0|1): strace + gdb as a sysext, no base (the closure is in the image)
    printf '<Project Sdk="Initrd.Sdk/%s">\n  <PropertyGroup>\n    <ImageFormat>sysext</ImageFormat>\n' "$VER"
    printf '    <Distribution>debian</Distribution>\n    <Release>trixie</Release>\n    <Architecture>amd64</Architecture>\n'
    printf '    <ExtensionImageVersion>0</ExtensionImageVersion>\n'
    [ "$1" = 1 ] && printf '    <ImageSigningKey>%s</ImageSigningKey>\n    <ImageSigningCertificate>%s</ImageSigningCertificate>\n' "$KEYS/db.key" "$KEYS/db.crt"
    printf '    <ImageRemove>/usr/share/doc/**;/usr/share/man/**;/usr/share/info/**;/usr/share/locale/**;/usr/share/lintian/**</ImageRemove>\n'
    printf '  </PropertyGroup>\n  <ItemGroup>\n    <ImagePackage Include="strace;gdb" />\n  </ItemGroup>\n</Project>\n'
  }
  for s in 0 1; do d=$X; [ $s = 1 ] && d=$XS; rm -rf "$d"; mkdir -p "$d"; sysext_project $s > "$d/BenchSysext.initrdproj"; done
  image_build "$X/BenchSysext.initrdproj" >> "$LOG" 2>&1; image_build "$XS/BenchSysext.initrdproj" >> "$LOG" 2>&1
  sed -i 's#<ExtensionImageVersion>[^<]*<#<ExtensionImageVersion>99<#' "$X/BenchSysext.initrdproj"
  info sysext_incremental "after ExtensionImageVersion changed: $(ran_targets "$X/BenchSysext.initrdproj")"
  # the prepared tree: exactly what our unsigned image holds (/usr with the extension-release), extracted from its erofs
  TS=$TOOLS/var/tmp/bench-sysext; rm -rf "$TS"; mkdir -p "$TS/unsigned.repart.d"
  xraw=$X/bin/Debug/BenchSysext.sysext.raw
  read -r pstart psize < <(sfdisk -J "$xraw" | jq -r '.partitiontable.partitions[0] | "\(.start) \(.size)"')
  # fsck.erofs 1.8 (the tools tree's) keeps hard links when it extracts; the host's 1.5 makes copies (perl, perl5.40.1)
  dd if="$xraw" of="$TS/ours.erofs" bs=512 skip="$pstart" count="$psize" status=none
  chroot "$TOOLS" fsck.erofs --extract=/var/tmp/bench-sysext/tree /var/tmp/bench-sysext/ours.erofs >> "$LOG" 2>&1; rm -f "$TS/ours.erofs"
  info sysext_tree "$(du -sb "$TS/tree" | cut -f1) B in $(find "$TS/tree" -mindepth 1 | wc -l) entries (strace + gdb and their closure, no base), $(ls "$TS/tree" | tr '\n' ' ')"
  printf '[Partition]\nType=root\nFormat=erofs\nCopyFiles=/usr/\nCopyFiles=/opt/\nMinimize=best\n' > "$TS/unsigned.repart.d/10-root.conf"
  cp "$KEYS/db.key" "$KEYS/db.crt" "$TS/"
  info sysext_peers "$(chroot "$TOOLS" systemd-repart --version | head -1), its mkfs.erofs $(chroot "$TOOLS" dpkg-query -W -f='${Version}' erofs-utils); host: mkfs.erofs $(dpkg-query -W -f='${Version}' erofs-utils), $(veritysetup --version | cut -d' ' -f1-2), sfdisk $(dpkg-query -W -f='${Version}' fdisk)"
  tools_mount
  # OUT [signed]: signed is --make-ddi=sysext as shipped; unsigned the same root partition alone, like ours. --offline=yes
  # (as mkosi runs it): no loop devices, which other work on this machine keeps busy (EBUSY seen without it)
  repart_build() {
    rm -f "$TS/$1"
    if [ -n "${2:-}" ]; then
      chroot "$TOOLS" systemd-repart --make-ddi=sysext --offline=yes --empty=create --size=auto --copy-source=/var/tmp/bench-sysext/tree \
        --private-key=/var/tmp/bench-sysext/db.key --certificate=/var/tmp/bench-sysext/db.crt "/var/tmp/bench-sysext/$1"
    else
      chroot "$TOOLS" systemd-repart --definitions=/var/tmp/bench-sysext/unsigned.repart.d --offline=yes --empty=create --size=auto \
        --copy-source=/var/tmp/bench-sysext/tree "/var/tmp/bench-sysext/$1"
    fi
  }
  script_build() { "$here/sysext-mkfs.sh" "$TS/tree" "$TS/$1" ${2:+"$KEYS/db.key" "$KEYS/db.crt"}; }
  repart_build r.raw >> "$LOG" 2>&1; script_build m.raw >> "$LOG" 2>&1   # warm-up
  for i in $(seq $NCHEAP); do
    sed -i "s#<ExtensionImageVersion>[^<]*<#<ExtensionImageVersion>$i<#" "$X/BenchSysext.initrdproj" "$XS/BenchSysext.initrdproj"
    stage_build sysext sysext-stage unsigned "$X/BenchSysext.initrdproj"
    timed sysext systemd-repart repart_build r.raw
    timed sysext mkfs-script script_build m.raw
    stage_build sysext-signed sysext-stage signed "$XS/BenchSysext.initrdproj"
    timed sysext-signed systemd-repart repart_build rs.raw 1
    timed sysext-signed mkfs-script script_build ms.raw 1
    timed sysext-noop ours image_build "$X/BenchSysext.initrdproj"   # nothing changed: row 8's floor
  done
  for s in "ours $X/bin/Debug/BenchSysext.sysext.raw" "systemd-repart $TS/r.raw" "mkfs-script $TS/m.raw"; do sample sysext-size ${s%% *} "$(stat -c %s "${s#* }")" B; done
  for s in "ours $XS/bin/Debug/BenchSysext.sysext.raw" "systemd-repart $TS/rs.raw" "mkfs-script $TS/ms.raw"; do sample sysext-size-signed ${s%% *} "$(stat -c %s "${s#* }")" B; done
  # systemd-dissect needs a loop device (busy here): check the signed images offline instead
  info sysext_signed_check "$(for f in "$XS/bin/Debug/BenchSysext.sysext.raw" "$TS/rs.raw" "$TS/ms.raw"; do printf '%s: %s; ' "${f##*/}" "$(ddi_check "$f")"; done)"
  tools_umount
fi

info loadavg_end "$(cut -d' ' -f1-3 /proc/loadavg)"
have_tools && info mkosi "$(chroot "$TOOLS" mkosi --version 2>/dev/null | head -1)"
have_dracut && info dracut "$(chroot "$DRACUT" dpkg-query -W -f='${Version}' dracut 2>/dev/null) (bookworm, in $DRACUT; kernel $(ls "$DRACUT/usr/lib/modules" | tail -1))"
name=${out:-$(date +%F)}
python3 "$here/report.py" "$SAMPLES" "$INFO" "$repo/eng/bench/results/$name" $quick
say "wrote eng/bench/results/$name.md and .json"
