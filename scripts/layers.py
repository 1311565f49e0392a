#!/usr/bin/env python3
"""layers.py — the layer check of `make lint` and of the first step of `make test`.

Reads the layer lists from the ```layers block of docs/architecture.md (bottom layer first, one binary per line:
"NAME: folder, folder, ...") and checks every C file of common/, dataplane/src/ and controller/src/:

  * every file lives in a folder of a layer list (the folder is the layer);
  * every `#include "x.h"` resolves (next to the including file, then under its binary's src/, then common/)
    and never into the other binary's tree;
  * no include points up the list (a lower layer never includes its owner);
  * no include cycle among modules (a module is foo.c + foo.h; a cycle of any length fails);
  * no two headers share a file name or an include guard;
  * every .c file is named in docs/architecture.md (its file table), so the document keeps matching the code.

Prints one line per problem and a summary; exits 1 when any problem is found. Pure reading: no compiler needed.
"""
import os
import re
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
TREES = ("common", "dataplane/src", "controller/src", "cli/src")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
GUARD_RE = re.compile(r"^\s*#\s*ifndef\s+(\w+)\s*\n\s*#\s*define\s+\1\b", re.M)


def read_architecture(problems):
    path = os.path.join(ROOT, "docs", "architecture.md")
    try:
        return open(path, encoding="utf-8").read()
    except OSError as e:
        problems.append(f"docs/architecture.md: {e.strerror}")
        return ""


def read_layers(text, problems):
    """{binary: [layer folder, ...]} from docs/architecture.md's ```layers block, bottom first."""
    m = re.search(r"```layers\n(.*?)```", text, re.S)
    if not m:
        problems.append("docs/architecture.md: no ```layers block")
        return {}
    layers = {}
    for line in m.group(1).splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, folders = line.partition(":")
        if not sep:
            problems.append(f"docs/architecture.md: layers line without 'binary:': {line!r}")
            continue
        layers[name.strip()] = [f.strip().rstrip("/") for f in folders.split(",") if f.strip()]
    return layers


def source_files():
    for tree in TREES:
        for dirpath, _, names in os.walk(os.path.join(ROOT, tree)):
            for n in sorted(names):
                if n.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(dirpath, n), ROOT)


def tree_of(path):
    for tree in TREES:
        if path.startswith(tree + "/"):
            return tree
    return None


def layer_of(path, layers):
    """(binary, index) pairs for the file's folder: common belongs to every binary's list."""
    out = []
    for binary, folders in layers.items():
        for i, folder in enumerate(folders):
            if path.startswith(folder + "/"):
                out.append((binary, i))
    return out


def resolve(path, name):
    candidates = [os.path.join(os.path.dirname(path), name)]
    tree = tree_of(path)
    if tree != "common":
        candidates.append(os.path.join(tree, name))
    candidates.append(os.path.join("common", name))
    for c in candidates:
        c = os.path.normpath(c)
        if os.path.isfile(os.path.join(ROOT, c)):
            return c
    return None


def module(path):
    return os.path.splitext(path)[0]


def find_cycles(graph):
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]; counter[0] += 1
        stack.append(start); on_stack.add(start)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]; counter[0] += 1
                    stack.append(nxt); on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    x = stack.pop(); on_stack.discard(x); comp.append(x)
                    if x == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def main():
    problems = []
    architecture = read_architecture(problems)
    layers = read_layers(architecture, problems)
    files = list(source_files())
    graph = {}
    n_includes = upward = 0
    headers, guards = {}, {}
    for path in files:
        text = open(os.path.join(ROOT, path), encoding="utf-8", errors="replace").read()
        mine = layer_of(path, layers)
        if not mine:
            problems.append(f"{path}: not in any layer folder of docs/architecture.md")
        graph.setdefault(module(path), set())
        stem = os.path.splitext(os.path.basename(path))[0]
        if path.endswith(".c") and architecture and not re.search(
                r"\b" + re.escape(stem) + r"\.[ch]\b", architecture):
            problems.append(f"{path}: not named in docs/architecture.md")
        if path.endswith(".h"):
            base = os.path.basename(path)
            if base in headers:
                problems.append(f"{path}: header name also used by {headers[base]}")
            headers.setdefault(base, path)
            g = GUARD_RE.search(text)
            if g:
                if g.group(1) in guards:
                    problems.append(f"{path}: include guard {g.group(1)} also used by {guards[g.group(1)]}")
                guards.setdefault(g.group(1), path)
            else:
                problems.append(f"{path}: no include guard")
        for name in INCLUDE_RE.findall(text):
            n_includes += 1
            target = resolve(path, name)
            if target is None:
                problems.append(f'{path}: #include "{name}" does not resolve')
                continue
            src_tree, dst_tree = tree_of(path), tree_of(target)
            if dst_tree != "common" and dst_tree != src_tree:
                problems.append(f'{path}: #include "{name}" reaches into {dst_tree}')
                continue
            if module(target) != module(path):
                graph[module(path)].add(module(target))
            theirs = dict(layer_of(target, layers))
            for binary, i in mine:
                j = theirs.get(binary)
                if j is not None and j > i:
                    upward += 1
                    problems.append(f'{path}: #include "{name}" points up ({layers[binary][i]} -> '
                                    f'{layers[binary][j]})')
                    break
    cycles = find_cycles(graph)
    for comp in cycles:
        problems.append("include cycle: " + " <-> ".join(comp))
    for p in problems:
        print(p)
    print(f"layers: {len(files)} files, {n_includes} includes, {len(cycles)} cycles, {upward} upward includes, "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
