"""Reading a live process's memory (root: /proc/PID/mem), to prove what it does not hold."""

from __future__ import annotations

from collections.abc import Iterator


def regions(pid: int) -> Iterator[tuple[int, str, bytes]]:
    """Each readable mapping of ``pid``: its start address, name and bytes (one at a time)."""
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if "r" not in fields[1] or fields[-1] in ("[vvar]", "[vsyscall]", "[vvar_vclock]"):
                continue
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except (OSError, ValueError):
                continue
            yield start, fields[5] if len(fields) > 5 else "[anon]", data


def scan(pid: int, needle: bytes) -> list[tuple[int, str]]:
    """Every address in ``pid``'s readable memory where ``needle`` occurs, with its mapping."""
    hits: list[tuple[int, str]] = []
    for start, name, data in regions(pid):
        at = data.find(needle)
        while at != -1:
            hits.append((start + at, name))
            at = data.find(needle, at + 1)
    return hits


def read_memory(pid: int, address: int, length: int) -> bytes:
    with open(f"/proc/{pid}/mem", "rb", 0) as mem:
        mem.seek(address)
        return mem.read(length)
