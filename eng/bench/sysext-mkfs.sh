#!/bin/bash
# A sysext disk image scripted from the host's tools, the second peer of row 8: mkfs.erofs (uncompressed, no xattrs,
# fixed time and UUID: the options Initrd.Sdk passes it), then with a key veritysetup format (sha256, 4096-byte blocks)
# and a PKCS#7 signature of the root hash (openssl smime, detached, no attributes) in the Discoverable Partitions JSON
# padded to 4096 bytes; sfdisk writes the GPT (root-x86-64, -verity, -verity-sig, read-only), dd the contents.
# usage: sysext-mkfs.sh TREE OUT [KEY CERT]
set -euo pipefail
tree=$1 out=$2 key=${3:-} cert=${4:-}
d=$(mktemp -d "$(dirname "$out")/.sysext-mkfs.XXXXXX"); trap 'rm -rf "$d"' EXIT
mkfs.erofs -T0 -U 8c2d1a3e-4b5f-4c6d-9e7f-0a1b2c3d4e5f -x-1 --quiet "$d/root" "$tree"
files=("$d/root"); types=(4f68bce3-e8cd-4db1-96e7-fbcaf984b709); names=(root-x86-64)
if [ -n "$key" ]; then
  veritysetup format --hash=sha256 --data-block-size=4096 --hash-block-size=4096 --root-hash-file="$d/roothash" "$d/root" "$d/verity" > /dev/null
  roothash=$(tr -d '\n' < "$d/roothash"); printf %s "$roothash" > "$d/roothash"
  openssl smime -sign -binary -noattr -outform DER -in "$d/roothash" -signer "$cert" -inkey "$key" -out "$d/sig.der"
  fingerprint=$(openssl x509 -in "$cert" -outform DER | sha256sum | cut -d' ' -f1)
  printf '{"rootHash":"%s","certificateFingerprint":"%s","signature":"%s"}' "$roothash" "$fingerprint" "$(base64 -w0 "$d/sig.der")" > "$d/sig"
  truncate -s $(( ($(stat -c%s "$d/sig") + 4095) / 4096 * 4096 )) "$d/sig"
  files+=("$d/verity" "$d/sig"); types+=(2c7357ed-ebd2-46d9-aec1-23d437ec2bf5 41092b05-9fc8-4523-994f-2def0408b176)
  names+=(root-x86-64-verity root-x86-64-verity-sig)
fi
script="label: gpt"$'\n'; start=2048; starts=()
for i in "${!files[@]}"; do
  sectors=$(( ($(stat -c%s "${files[$i]}") + 4095) / 4096 * 8 ))
  script+="start=$start, size=$sectors, type=${types[$i]}, name=${names[$i]}, attrs=\"GUID:60\""$'\n'
  starts+=("$start"); start=$((start + sectors))
done
rm -f "$out"; truncate -s $(( (start + 2048) * 512 )) "$out"
sfdisk --quiet --no-reread --no-tell-kernel "$out" <<< "$script"
for i in "${!files[@]}"; do
  dd if="${files[$i]}" of="$out" bs=4M seek=$(( ${starts[$i]} * 512 )) oflag=seek_bytes conv=notrunc status=none
done
