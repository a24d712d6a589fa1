#!/usr/bin/env python3
"""Small ELF property checks for scripts/fixtures.sh, built on llvm-readelf.

  elfcheck.py relocs FILE            print the non-debug relocations "by meaning"
  elfcheck.py relocdiff ORIG NEW     compare non-debug relocations by meaning;
                                     prints "changed=N total=M"; exit 0
  elfcheck.py groups FILE            section-group statistics (one key=value
                                     per line); exit 1 unless the file has >= 2
                                     groups sharing one member section and >= 2
                                     relocation sections targeting one section

"Meaning" of a relocation: (target section name, offset, type, symbol name,
addend) as printed by `llvm-readelf -r`; section indices are ignored, so
two files that differ only in section numbering compare equal.
"""
import collections
import os
import re
import subprocess
import sys

READELF = os.environ.get("LLVM_READELF", "llvm-readelf-19")

RELSEC = re.compile(r"^Relocation section '([^']*)' at offset 0x[0-9a-f]+ contains (\d+) entr")
# 0000000000000004  0000000a00000004 R_X86_64_PLT32  0000000000000000 foo - 4
RELLINE = re.compile(
    r"^([0-9a-f]+)\s+([0-9a-f]+)\s+(\S+)\s*(?:([0-9a-f]+)\s+(.*?)\s*([+-])\s*([0-9a-f]+)|([0-9a-f]+))?\s*$")


def readelf(*args):
    r = subprocess.run([READELF, "--wide", *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"elfcheck: {READELF} {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


def section_table(path):
    """[(index, name, type, info)] from llvm-readelf -S."""
    out = []
    for line in readelf("-S", path).splitlines():
        m = re.match(r"^\s*\[\s*(\d+)\]\s+(\S*)\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)"
                     r"\s+([0-9a-f]+)\s+(\S*?)\s*(\d+)\s+(\d+)\s+(\d+)\s*$", line)
        if m:
            out.append((int(m.group(1)), m.group(2), m.group(3), int(m.group(10))))
    return out


def relocs(path):
    """Multiset of non-debug relocations by meaning."""
    # the name of a relocation section is ".rela" + its target's name
    res = collections.Counter()
    cur = None
    for line in readelf("-r", path).splitlines():
        m = RELSEC.match(line)
        if m:
            name = m.group(1)
            target = name[5:] if name.startswith(".rela") else name[4:]
            cur = None if target.startswith(".debug") else target
            continue
        if cur is None:
            continue
        m = RELLINE.match(line.strip())
        if not m or line.strip().startswith("Offset"):
            continue
        off, _info, typ = m.group(1), m.group(2), m.group(3)
        if m.group(8) is not None:          # no symbol, bare addend
            sym, addend = "", int(m.group(8), 16)
        elif m.group(4) is not None:
            sym = m.group(5)
            addend = int(m.group(7), 16) * (-1 if m.group(6) == "-" else 1)
        else:
            sym, addend = "", 0
        res[(cur, int(off, 16), typ, sym, addend)] += 1
    return res


def cmd_relocs(path):
    for key, n in sorted(relocs(path).items()):
        for _ in range(n):
            print("%s+0x%x %s %s %+d" % key)


def cmd_relocdiff(a, b):
    ra, rb = relocs(a), relocs(b)
    lost = ra - rb
    gained = rb - ra
    changed = max(sum(lost.values()), sum(gained.values()))
    print(f"changed={changed} total={sum(ra.values())} lost={sum(lost.values())} "
          f"gained={sum(gained.values())}")
    for key in list(lost)[:5]:
        print("  lost:   %s+0x%x %s %s %+d" % key)
    for key in list(gained)[:5]:
        print("  gained: %s+0x%x %s %s %+d" % key)


def cmd_groups(path):
    table = section_table(path)
    names = {i: n for i, n, _t, _inf in table}
    types = {i: t for i, _n, t, _inf in table}
    groups = []
    cur = None
    for line in readelf("-g", path).splitlines():
        m = re.match(r"^COMDAT group section \[\s*(\d+)\] `[^']*' \[([^\]]*)\]", line)
        if m:
            cur = []
            groups.append((m.group(2), cur))
            continue
        m = re.match(r"^\s*\[\s*(\d+)\]\s+(\S+)\s*$", line)
        if m and cur is not None:
            cur.append(int(m.group(1)))
    member_of = collections.defaultdict(list)
    for sig, members in groups:
        for idx in members:
            member_of[idx].append(sig)
    shared = {idx: sigs for idx, sigs in member_of.items()
              if len(sigs) > 1 and types.get(idx) not in ("RELA", "REL")}
    # relocation sections per target section (sh_info)
    per_target = collections.defaultdict(list)
    for i, _n, t, inf in table:
        if t in ("RELA", "REL") and inf:
            per_target[inf].append(i)
    multi = {tgt: rs for tgt, rs in per_target.items() if len(rs) > 1}
    print(f"groups={len(groups)}")
    for idx, sigs in sorted(shared.items(), key=lambda kv: -len(kv[1])):
        print(f"shared_member={names.get(idx, idx)} groups_sharing={len(sigs)}")
    for tgt, rs in sorted(multi.items(), key=lambda kv: -len(kv[1])):
        in_groups = sum(1 for r in rs if r in member_of)
        print(f"multi_rela_target={names.get(tgt, tgt)} rela_sections={len(rs)} "
              f"in_groups={in_groups}")
    ok = bool(shared) and any(len(rs) > 1 for rs in multi.values())
    print(f"ok={'yes' if ok else 'no'}")
    return 0 if ok else 1


def main(argv):
    if len(argv) == 3 and argv[1] == "relocs":
        cmd_relocs(argv[2])
        return 0
    if len(argv) == 4 and argv[1] == "relocdiff":
        cmd_relocdiff(argv[2], argv[3])
        return 0
    if len(argv) == 3 and argv[1] == "groups":
        return cmd_groups(argv[2])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
