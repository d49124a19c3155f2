#!/usr/bin/env python3
"""Splits an initrd (uncompressed newc cpio segments and/or one compressed tail, as dracut writes
them, or one compressed stream, as we and mkosi-initrd write them) into plain cpio files in OUTDIR."""
import os, subprocess, sys

src, outdir = sys.argv[1], sys.argv[2]
os.makedirs(outdir, exist_ok=True)
data = open(src, 'rb').read()
pos, n = 0, 0

def newc_end(buf, p):
    """End offset of the newc archive starting at p (after TRAILER!!! and its padding)."""
    while True:
        h = buf[p:p + 110]
        namesize = int(h[94:102], 16); filesize = int(h[54:62], 16)
        name = buf[p + 110:p + 110 + namesize - 1]
        p = (p + 110 + namesize + 3) & ~3
        p = (p + filesize + 3) & ~3
        if name == b'TRAILER!!!':
            return p

tools = {b'\x28\xb5\x2f\xfd': ['zstd', '-dcq'], b'\x1f\x8b': ['gzip', '-dc'], b'\xfd7zXZ': ['xz', '-dc']}
while pos < len(data):
    while pos < len(data) and data[pos] == 0:
        pos += 1
    if pos >= len(data):
        break
    if data[pos:pos + 6] == b'070701':
        end = newc_end(data, pos)
        open(os.path.join(outdir, f'{n:02d}.cpio'), 'wb').write(data[pos:end])
        n += 1; pos = end
        continue
    for magic, cmd in tools.items():
        if data[pos:pos + len(magic)] == magic:
            out = subprocess.run(cmd, input=data[pos:], stdout=subprocess.PIPE, check=False).stdout
            open(os.path.join(outdir, f'{n:02d}.cpio'), 'wb').write(out)
            n += 1; pos = len(data)
            break
    else:
        sys.exit(f'{src}: unknown data at offset {pos}')
