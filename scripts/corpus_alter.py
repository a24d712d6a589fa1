#!/usr/bin/env python3
"""Alters a copy of a real kernel module the way a load failure happens (scripts/corpus.sh).

Usage: corpus_alter.py KIND IN.ko OUT.ko [Module.symvers]
KIND: crc        flip the CRC of one __versions entry (not module_layout)
      unknown    rename one undefined symbol to a same-length name nobody exports
      licence    licence -> "Proprietary" (needs Module.symvers: the module must use a
                 GPL-only export; prints how many it uses)
      modinfo    a second section named .modinfo (the .comment section renamed)
      wx         SHF_WRITE on .text (W+X)
      namespace  its MODULE_IMPORT_NS dropped (the import_ns= key renamed)
Prints one line: what it changed, and the text verify is expected to print.

Usage: corpus_alter.py pick-licence DIR Module.symvers
Prints a module under DIR whose licence string has room for "Proprietary" and that uses
exactly one GPL-only export (so that one line is expected).
"""
import os
import struct
import sys

SHF_WRITE = 1


def sections(d):
    shoff, = struct.unpack_from("<Q", d, 0x28)
    shnum, shstrndx = struct.unpack_from("<HH", d, 0x3C)
    hdrs = []
    for i in range(shnum):
        o = shoff + i * 64
        name, typ, flags, _addr, off, size, link, info = struct.unpack_from("<IIQQQQII", d, o)
        hdrs.append(dict(i=i, hdr=o, name_off=name, type=typ, flags=flags, off=off, size=size, link=link, info=info))
    strs = hdrs[shstrndx]
    for h in hdrs:
        end = d.index(b"\0", strs["off"] + h["name_off"])
        h["name"] = d[strs["off"] + h["name_off"]:end].decode()
    return hdrs


def by_name(hdrs, name):
    return next(h for h in hdrs if h["name"] == name)


def undefined(d, hdrs):
    """(strtab offset of the name, name, bind) of every named undefined symbol."""
    symtab = next(h for h in hdrs if h["type"] == 2)
    strtab = hdrs[symtab["link"]]
    out = []
    for i in range(1, symtab["size"] // 24):
        name, info, _other, shndx = struct.unpack_from("<IBBH", d, symtab["off"] + i * 24)
        if shndx == 0 and name:
            at = strtab["off"] + name
            out.append((at, d[at:d.index(b"\0", at)].decode(), info >> 4))
    return out


def gpl_only(symvers):
    with open(symvers) as f:
        return {c[1] for c in (l.rstrip("\n").split("\t") for l in f) if c[3].endswith("_GPL")}


def licence_room(d, hdrs):
    m = by_name(hdrs, ".modinfo")
    blob = bytes(d[m["off"]:m["off"] + m["size"]])
    start = blob.find(b"license=")
    return -1 if start < 0 else blob.index(b"\0", start) - start


def pick_licence(top, symvers):
    gpl = gpl_only(symvers)
    for root, _dirs, files in sorted(os.walk(top)):
        for f in sorted(files):
            if not f.endswith(".ko"):
                continue
            d = open(os.path.join(root, f), "rb").read()
            hdrs = sections(d)
            if licence_room(d, hdrs) < len("license=Proprietary"):
                continue
            if len({n for _, n, _ in undefined(d, hdrs)} & gpl) == 1:
                print(os.path.join(root, f))
                return
    sys.exit("no module with room for the licence and one GPL-only import")


def main():
    if sys.argv[1] == "pick-licence":
        pick_licence(sys.argv[2], sys.argv[3])
        return
    kind, src, dst = sys.argv[1:4]
    d = bytearray(open(src, "rb").read())
    hdrs = sections(d)
    if kind == "crc":
        v = by_name(hdrs, "__versions")
        for o in range(v["off"], v["off"] + v["size"], 64):
            name = bytes(d[o + 8:o + 64]).split(b"\0")[0].decode()
            if name != "module_layout":
                d[o] ^= 0xFF
                print(f"CRC of {name} flipped\tdisagrees about version of symbol {name}")
                break
    elif kind == "unknown":
        at, name, _ = next(u for u in undefined(d, hdrs) if u[2] == 1)
        new = name[:-1] + ("Q" if name[-1] != "Q" else "Z")
        d[at:at + len(new)] = new.encode()
        print(f"{name} renamed {new}\tUnknown symbol {new} (err -2)")
    elif kind == "licence":
        gpl = gpl_only(sys.argv[4])
        used = sorted({n for _, n, _ in undefined(d, hdrs)} & gpl)
        m = by_name(hdrs, ".modinfo")
        blob = bytes(d[m["off"]:m["off"] + m["size"]])
        start = blob.index(b"license=")
        end = blob.index(b"\0", start)
        new = b"license=Proprietary"
        assert end - start >= len(new), "licence string too short to overwrite"
        d[m["off"] + start:m["off"] + end] = new + b"\0" * (end - start - len(new))
        print(f"licence Proprietary, {len(used)} GPL-only imports\tUnknown symbol {used[0]} (err -2): a GPL-only export")
    elif kind == "modinfo":
        m, c = by_name(hdrs, ".modinfo"), by_name(hdrs, ".comment")
        struct.pack_into("<I", d, c["hdr"], m["name_off"])
        print(".comment renamed .modinfo\tOnly one .modinfo section must exist.")
    elif kind == "wx":
        t = by_name(hdrs, ".text")
        struct.pack_into("<Q", d, t["hdr"] + 8, t["flags"] | SHF_WRITE)
        print(".text made writable\thas invalid WRITE|EXEC flags")
    elif kind == "namespace":
        m = by_name(hdrs, ".modinfo")
        blob = bytes(d[m["off"]:m["off"] + m["size"]])
        entries = [e for e in blob.split(b"\0") if e.startswith(b"import_ns=")]
        assert len(entries) == 1, "pick a module importing exactly one namespace"
        at = m["off"] + blob.index(b"import_ns=")
        d[at:at + 10] = b"import_nX="
        ns = entries[0][10:].decode()
        print(f"MODULE_IMPORT_NS({ns}) dropped\tfrom namespace {ns}, but does not import it")
    else:
        sys.exit(f"unknown kind {kind}")
    open(dst, "wb").write(d)


main()
