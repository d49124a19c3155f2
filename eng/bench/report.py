#!/usr/bin/env python3
"""Turns samples.tsv (row, side, value, unit, loadavg) and info.tsv into results/<date>.md and .json."""
import json, statistics, sys

samples_path, info_path, out, quick = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == '1'
info = dict(l.rstrip('\n').split('\t', 1) for l in open(info_path) if '\t' in l)
samples = [l.rstrip('\n').split('\t') for l in open(samples_path) if l.strip()]

ROWS = [
    ('resolve-warm', '1. Resolve the default package set, warm metadata (`dotnet restore`, lock deleted, vs `apt-get install -s`)'),
    ('resolve-warm-stage', '1a. Inside row 1: the Resolve stage alone (the task\'s own timing: InRelease check, index load, solve, lock) and its metadata part; the rest of row 1 is `dotnet` start-up and evaluation'),
    ('resolve-cold', '1b. Resolve, cold (empty cache: metadata download + solve, vs `apt-get update` + `install -s` on empty state)'),
    ('resolve-cold-stage', '1c. Inside row 1b: the Resolve stage alone, cold (download, decompress, parse, write caches, solve) and its metadata part'),
    ('pack', '2. cpio+zstd of the default tree (ours: the WriteCpioImage task; peer: `find|sort|cpio|zstd -3 -T0`; limit: `zstd -3 -T0` on the same cpio bytes)'),
    ('pack-incremental-build', '2b. Whole `dotnet build` that reruns only the pack stage (process start, evaluation, up-to-date checks, pack)'),
    ('first-build', '3·. First build with the packed SDK (JIT, SDK resolution from the feed; package cache may be warm)'),
    ('build-cold', '3a. Build, cold (empty caches)'),
    ('build-warm', '3b. Build, warm (package cache full, no install-tree cache, obj/bin deleted)'),
    ('build-noop', '3c. No-op rebuild (peers: a full warm build, they have no incremental mode)'),
    ('build-one-file', '3d. Rebuild after one ImageFile changed (peers: a full warm build)'),
    ('size-compressed', '4a. Initrd file size'),
    ('size-uncompressed', '4b. Uncompressed cpio size'),
    ('size-entries', '4c. Entries (files, dirs, links, nodes)'),
    ('size-modules', '4d. Size of usr/lib/modules (unpacked)'),
    ('size-module-count', '4e. Kernel modules (.ko*)'),
    ('boot-initrd-target', '5a. Boot (QEMU TCG): guest uptime at "Reached target initrd.target"'),
    ('boot-switch-root', '5b. Boot: guest uptime at "Switching root."'),
    ('boot-root-init', '5c. Boot: guest uptime when the test root\'s /sbin/init runs'),
    ('boot-host-wall', '5d. Boot: host wall time, QEMU start to power-off'),
    ('noop', '6. No-op `dotnet build`: the default initrd vs an empty project of the same shape (goal: ours ≤ 1.2× empty; the same-shape peer is empty-sdk, an MSBuild SDK package consumed like ours)'),
    ('uki', '7. UKI from the built initrd and kernel, unsigned: the whole `dotnet build` of a UKI project when only its pack stage reruns (KernelCommandLine changed) vs `ukify build` 257 and the objcopy recipe of systemd-stub(7), same inputs. Informational: it includes the floor of any `dotnet build` (row 7d), which alone exceeds a whole ukify run'),
    ('uki-signed', '7a. The same, signed for Secure Boot: ours with ImageSigningKey/ImageSigningCertificate (native Authenticode) vs ukify with --secureboot-private-key/--secureboot-certificate (sbsign) and objcopy + sbsign'),
    ('uki-stage', '7b. The goal\'s measure, building the UKI from an existing initrd and kernel: our pack stage alone (the WriteUkiImage task\'s "Pack: UKI … in X s" line: reading the inputs, assembling, hashing and signing, writing and renaming into bin/) against the whole peer command (goal: faster than both)'),
    ('uki-size', '7c. UKI file size, unsigned'),
    ('uki-noop', '7d. No-op `dotnet build` of the same UKI project (nothing changed; the referenced initrd is checked too): the floor under row 7 that a faster pack stage cannot lower'),
    ('sysext', '8. sysext from a prepared tree (strace + gdb), no Verity: the whole `dotnet build` when only its pack stage reruns (ExtensionImageVersion changed) vs systemd-repart 257 (the root partition of its sysext definitions) and mkfs.erofs + sfdisk scripted on the host, same tree (goal: faster)'),
    ('sysext-signed', '8a. The same with dm-verity and a signed root hash: ours with ImageSigningKey vs `systemd-repart --make-ddi=sysext` with key and certificate, and mkfs.erofs + veritysetup + openssl + sfdisk'),
    ('sysext-stage', '8b. Inside rows 8/8a (informational): the pack stage alone, from the WriteExtensionImage task\'s "Pack: sysext … in X s" line (0.1 s resolution)'),
    ('sysext-size', '8c. sysext image size, no Verity'),
    ('sysext-size-signed', '8d. sysext image size, Verity + signature'),
    ('sysext-noop', '8e. No-op `dotnet build` of the same sysext project (nothing changed): the floor under row 8'),
]
# stage rows: compared with the peers of the rows they are part of
STAGE_PEERS = {'uki-stage': {'unsigned': 'uki', 'signed': 'uki-signed'},
               'sysext-stage': {'unsigned': 'sysext', 'signed': 'sysext-signed'}}

def fmt(v, unit):
    if unit == 's': return f'{v:.2f} s' if v < 100 else f'{v:.0f} s'
    if unit == 'B': return f'{v / 1048576:.1f} MiB'
    return f'{v:.0f}'

result = {'machine': info, 'rows': []}
md = [f'# Benchmarks {out.rsplit("/", 1)[-1]}' + (' (--quick: one sample per cell, not for quoting)' if quick else ''), '']
md += ['Generated by `eng/bench/run.sh`' + (' --quick' if quick else '') + '. Ratio = peer median / our median '
       '(> 1: we are faster or smaller). Runs interleaved (ours, peer, ours, peer …); median and min–max of n samples; '
       'load = 1-minute loadavg when each sample started (min–max).', '', '## Machine', '', '| | |', '| --- | --- |']
md += [f'| {k} | {v} |' for k, v in info.items()]
for row, title in ROWS:
    rs = [s for s in samples if s[0] == row]
    if not rs: continue
    sides = list(dict.fromkeys(s[1] for s in rs))
    unit = rs[0][3]
    stats = {}
    for side in sides:
        vals = [float(s[2]) for s in rs if s[1] == side]
        loads = [float(s[4]) for s in rs if s[1] == side]
        stats[side] = dict(median=statistics.median(vals), min=min(vals), max=max(vals), n=len(vals), samples=vals,
                           load_min=min(loads), load_max=max(loads))
    ours = stats.get('ours', {}).get('median')
    for side, st in stats.items():
        st['ratio_peer_over_ours'] = (st['median'] / ours) if ours and side != 'ours' else None
    result['rows'].append(dict(row=row, title=title, unit=unit, sides=stats))
    md += ['', f'## {title}', '', '| side | median | ratio peer/ours | min–max | n | load |', '| --- | --- | --- | --- | --- | --- |']
    for side, st in stats.items():
        ratio = f'{st["ratio_peer_over_ours"]:.2f}×' if st['ratio_peer_over_ours'] else '—'
        md.append(f'| {side} | {fmt(st["median"], unit)} | {ratio} | {fmt(st["min"], unit)}–{fmt(st["max"], unit)} | {st["n"]} | {st["load_min"]:.1f}–{st["load_max"]:.1f} |')
    if row == 'pack' and 'pack_input_bytes' in info:
        mb = int(info['pack_input_bytes']) / 1e6
        md.append('')
        md.append('Throughput (MB of uncompressed cpio per second): ' + ', '.join(f'{s} {mb / st["median"]:.0f} MB/s' for s, st in stats.items()) + f' ({mb:.0f} MB input).')
    if row == 'noop' and ours:
        md.append('')
        md.append('Goal metric ours/empty: ' + ', '.join(f'{ours / st["median"]:.2f}× vs {s}' for s, st in stats.items() if s != 'ours') + ' (goal ≤ 1.2×; empty-sdk is the same-shape comparison).')
    if row in STAGE_PEERS:
        medians = {r['row']: r['sides'] for r in result['rows']}
        parts = []
        for side, st in stats.items():
            peers = {p: v['median'] for p, v in medians.get(STAGE_PEERS[row].get(side, ''), {}).items() if p != 'ours'}
            if peers: parts.append(f'{side}: ' + ', '.join(f'{p} {m / st["median"]:.2f}×' for p, m in peers.items()))
        if parts:
            md.append('')
            md.append('Peer median / stage median (the stage alone against the whole peer command): ' + '; '.join(parts) + '.')
json.dump(result, open(out + '.json', 'w'), indent=1)
open(out + '.md', 'w').write('\n'.join(md) + '\n')
