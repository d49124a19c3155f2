#!/bin/bash
# The classic systemd-stub recipe (systemd-stub(7), "Assembling a UKI with objcopy"), the peer of row 7: each section
# added with objcopy at the next VMA after the stub's last section (and after the section before it), aligned to the
# stub's SectionAlignment; sbsign signs the result when a key and certificate are given.
# usage: uki-objcopy.sh STUB OSREL CMDLINE UNAME INITRD LINUX OUT [KEY CERT]
# Runs inside the trixie tools tree (binutils 2.44, sbsigntool), with no /dev: no process substitution.
set -euo pipefail
stub=$1 osrel=$2 cmdline=$3 uname=$4 initrd=$5 linux=$6 out=$7
align=$((16#$(objdump -p "$stub" | awk '$1 == "SectionAlignment" {print $2}')))
end=0
while read -r _ _ size vma _; do
  e=$((16#$size + 16#$vma)); [ $e -gt $end ] && end=$e
done <<< "$(objdump -h "$stub" | awk 'NF == 7 && $1 ~ /^[0-9]+$/')"
up() { echo $(( ($1 + align - 1) / align * align )); }
args=(); vma=$(up $end)
for s in osrel:"$osrel" cmdline:"$cmdline" uname:"$uname" initrd:"$initrd" linux:"$linux"; do
  name=${s%%:*} file=${s#*:}
  args+=(--add-section ".$name=$file" --change-section-vma ".$name=$(printf 0x%x "$vma")")
  vma=$(up $((vma + $(stat -Lc%s "$file"))))
done
if [ $# -ge 9 ]; then
  objcopy "${args[@]}" "$stub" "$out.unsigned"
  sbsign --key "$8" --cert "$9" --output "$out" "$out.unsigned" 2>/dev/null
  rm -f "$out.unsigned"
else
  objcopy "${args[@]}" "$stub" "$out"
fi
