#!/usr/bin/env python3
"""Regenerates NAME.redacted.json from cases.txt, independently of the C code:
the first JSON string (document order) equal to the expected text of the chosen segment
is replaced by "[REDACTED]" and the document is written compact, keys in order."""
import json, os, sys
here = os.path.dirname(os.path.abspath(__file__))

def replace_first(v, old, done):
    if isinstance(v, str):
        if not done[0] and v == old:
            done[0] = True
            return "[REDACTED]"
        return v
    if isinstance(v, list):
        return [replace_first(x, old, done) for x in v]
    if isinstance(v, dict):
        return {k: replace_first(x, old, done) for k, x in v.items()}
    return v

for line in open(os.path.join(here, 'cases.txt')):
    if not line.strip() or line.startswith('#'):
        continue
    codec, direction, name, idx = line.split()
    idx = int(idx)
    if idx < 0:
        continue
    segs = [json.loads(l) for l in open(os.path.join(here, name + '.segments'), encoding='utf-8')]
    doc = json.load(open(os.path.join(here, name + '.json'), encoding='utf-8'))
    done = [False]
    doc = replace_first(doc, segs[idx][2], done)
    if not done[0]:
        sys.exit(f'{name}: text of segment {idx} not found')
    with open(os.path.join(here, name + '.redacted.json'), 'w', encoding='utf-8') as f:
        f.write(json.dumps(doc, ensure_ascii=False, separators=(',', ':')))
