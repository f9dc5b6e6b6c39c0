#!/usr/bin/env python3
"""Fails on a broken internal link in the given Markdown files or folders.

A link is broken when its file does not exist, when its `#anchor` names no heading of the file
(mdBook's and GitHub's slugs: lower case, spaces to dashes, punctuation dropped), when a page of
the book (docs/src) links outside the book (the rendered book would not have it), or when an
mdBook `{{#include path:anchor}}` names a missing file or anchor. Links with a scheme (https:)
are not checked; code spans and fenced blocks are skipped.
"""
import os
import re
import sys

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
INCLUDE = re.compile(r"\{\{#include ([^}:]+)(?::([A-Za-z0-9_-]+))?\}\}")
BOOK = os.path.abspath("docs/src")


def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def prose(text):
    """The text outside fenced blocks and code spans."""
    out, fence = [], False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        if not fence:
            out.append(re.sub(r"`[^`]*`", "", line))
    return "\n".join(out)


def anchors(path):
    text = open(path, encoding="utf-8").read()
    return {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", prose(text), re.M)}


def check(path):
    errors = []
    text = open(path, encoding="utf-8").read()
    here = os.path.dirname(path)
    for m in LINK.finditer(prose(text)):
        target = m.group(1)
        if re.match(r"^[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        dest = os.path.abspath(os.path.join(here, file)) if file else os.path.abspath(path)
        if not os.path.exists(dest):
            errors.append(f"{path}: link to {target}: no file {dest}")
            continue
        if os.path.commonpath([os.path.abspath(path), BOOK]) == BOOK and file:
            if os.path.commonpath([dest, BOOK]) != BOOK:
                errors.append(f"{path}: link to {target} leaves the book (docs/src)")
        if anchor and dest.endswith(".md") and anchor not in anchors(dest):
            errors.append(f"{path}: link to {target}: no heading #{anchor} in {dest}")
    for m in INCLUDE.finditer(text):
        dest = os.path.abspath(os.path.join(here, m.group(1)))
        if not os.path.isfile(dest):
            errors.append(f"{path}: include of {m.group(1)}: no file {dest}")
        elif m.group(2) and f"ANCHOR: {m.group(2)}" not in open(dest, encoding="utf-8").read():
            errors.append(f"{path}: include of {m.group(1)}: no anchor {m.group(2)}")
    return errors


def main(args):
    files = []
    for a in args:
        if os.path.isdir(a):
            files += [os.path.join(d, f) for d, _, fs in os.walk(a) for f in sorted(fs) if f.endswith(".md")]
        else:
            files.append(a)
    errors = [e for f in sorted(files) for e in check(f)]
    for e in errors:
        print(e, file=sys.stderr)
    print(f"links: {len(files)} files checked, {len(errors)} broken")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
