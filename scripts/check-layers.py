#!/usr/bin/env python3
"""scripts/check-layers.py: the core's layering, checked on the objects.

  scripts/check-layers.py ORDER ARCHIVE...

ORDER is the layers from the bottom up, comma-separated (core/meson.build's
core_layer_order). Each ARCHIVE is a static library of the core; every object
in it is named after its source, src/<layer>/<file>.c (meson: src_<layer>_<file>.c.o).

From `nm` over the objects: a file calls another when its object has an
undefined symbol that the other's object defines. It fails (exit 1) when
  - two or more files call each other in a circle (directly or through
    others): every such circle is printed; or
  - a file calls a file of a higher layer (an upward call: it would not
    link, the layers being linked in order; printed with the symbols).
Calls inside one file and calls into other libraries are not looked at.
It prints the file graph's size and "layers: ok" when both hold.
"""
import collections
import re
import subprocess
import sys


def objects(archive):
    """{member: (defined, undefined)} for the global symbols of @archive."""
    out = subprocess.run(["nm", "-g", archive], check=True, capture_output=True,
                         text=True).stdout
    objs, cur = {}, None
    for line in out.splitlines():
        if line.endswith(":") and not line.startswith(" "):
            cur = line[:-1]
            objs[cur] = (set(), set())
            continue
        parts = line.split()
        if cur is None or not parts:
            continue
        if len(parts) == 2 and parts[0] == "U":
            objs[cur][1].add(parts[1])
        elif len(parts) == 3 and parts[1] not in ("U", "w", "v"):
            objs[cur][0].add(parts[2])
    return objs


def file_of(member, layers):
    member = member.rsplit("/", 1)[-1]
    m = re.match(r"src_(%s)_(.+)\.c\.o$" % "|".join(map(re.escape, layers)), member)
    if not m:
        sys.exit("check-layers: %s is not named src_<layer>_<file>.c.o" % member)
    return m.group(1), "%s/%s.c" % (m.group(1), m.group(2))


def sccs(graph):
    """Tarjan's strongly connected components of {node: set(nodes)}."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    order = sys.argv[1].split(",")
    rank = {l: i for i, l in enumerate(order)}
    defs, unds, layer = {}, {}, {}
    for archive in sys.argv[2:]:
        for member, (d, u) in objects(archive).items():
            lay, f = file_of(member, order)
            layer[f] = lay
            unds[f] = u
            for s in d:
                defs[s] = f
    graph = {f: set() for f in unds}
    why = collections.defaultdict(set)
    for f, us in unds.items():
        for s in us:
            g = defs.get(s)
            if g and g != f:
                graph[f].add(g)
                why[(f, g)].add(s)
    bad = 0
    for comp in sccs(graph):
        if len(comp) > 1:
            bad += 1
            print("circle: " + " <-> ".join(comp))
            for f in comp:
                for g in sorted(graph[f] & set(comp)):
                    print("    %s -> %s: %s" % (f, g, " ".join(sorted(why[(f, g)]))))
    for f in sorted(graph):
        for g in sorted(graph[f]):
            if rank[layer[g]] > rank[layer[f]]:
                bad += 1
                print("upward: %s (%s) -> %s (%s): %s" % (f, layer[f], g, layer[g],
                                                         " ".join(sorted(why[(f, g)]))))
    edges = sum(len(v) for v in graph.values())
    if not graph or not edges:
        # no objects or no symbols read (an empty archive, LTO objects nm
        # cannot read): nothing was checked, which is not a pass
        print("check-layers: %d files, %d calls read: nothing to check" % (len(graph), edges))
        return 1
    print("%d files, %d calls between files, %d layers" % (len(graph), edges, len(order)))
    if bad:
        print("layers: %d problem(s)" % bad)
        return 1
    print("layers: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
