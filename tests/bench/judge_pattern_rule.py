"""Benchmark: is the geometry judge's "pattern colour visibly present" rule able to tell *which* second colour a subject has?

Draws every main colour × pattern colour × patterned kind (3 random drawings each), plain and through the shipped VAE's
round trip (what any sample of the model can at best look like), and prints, for three rules, how often the drawn
pattern colour passes (should be ~100%) and how often another colour passes in its place (should be ~0%):

- nearer than the main colour (the judge's first rule): a pixel of the object's inside counts for colour C if it is
  nearer C than the main colour;
- nearest colour: a pixel counts for C if C is its nearest palette colour;
- main-to-pattern line (`pattern_shares`, the judge's rule now): a pixel counts for C if it lies near the line from the
  main colour to C, past halfway.

A colour passes when its share of the object's inside reaches `MIN_PATTERN_SHARE`.

    python tests/bench/judge_pattern_rule.py [--n 3] [--no-vae]
"""
import argparse, itertools, random, time
import numpy as np
from dreambooth_nb.shapes_world import Attrs, draw, COLOURS, BACKGROUNDS, SHAPES, PATTERNS
from dreambooth_nb.shapes_geometry import segment, object_pixels, nearest_colour, pattern_shares, MIN_PATTERN_SHARE, vae_round_trip

NAMES = list(COLOURS)
RULES = ('nearer than main', 'nearest colour', 'line (the judge\'s)')

def rule_shares(im, main):
    "{colour: (share under each rule)} for every colour but `main`, over the object's eroded inside."
    px = object_pixels(im, segment(im)[0])
    if not len(px): return {k: (0.0,) * len(RULES) for k in NAMES if k != main}
    dM = np.linalg.norm(px - np.array(COLOURS[main], np.float32), axis=-1)
    near, line = nearest_colour(px), pattern_shares(px, main)
    return {k: (float((np.linalg.norm(px - np.array(COLOURS[k], np.float32), axis=-1) < dM).mean()),
                float((near == NAMES.index(k)).mean()), line[k]) for k in NAMES if k != main}

def drawings(n, seed=0):
    "(attrs, image) for `n` random drawings of every main colour × pattern colour × patterned kind."
    rng = random.Random(seed); out = []
    for pat, (main, pc) in itertools.product([p for p in PATTERNS if p != 'plain'], itertools.permutations(NAMES, 2)):
        for _ in range(n):
            a = Attrs(rng.choice(SHAPES), main, rng.choice([b for b in BACKGROUNDS if b not in (main, pc)]), pat, pc,
                      size=rng.uniform(0.25, 0.4), x=rng.uniform(.4, .6), y=rng.uniform(.4, .6), angle=rng.uniform(0, 360))
            out.append((a, draw(a)))
    return out

def rates(pairs):
    "(true pattern colour passes, a wrong colour passes) per rule, as shares."
    tp, fp, n_fp = np.zeros(len(RULES)), np.zeros(len(RULES)), 0
    for a, im in pairs:
        for k, s in rule_shares(im, a.colour).items():
            hit = np.array(s) >= MIN_PATTERN_SHARE
            if k == a.pattern_colour: tp += hit
            else: fp += hit; n_fp += 1
    return tp / len(pairs), fp / n_fp

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=3, help='drawings per main colour, pattern colour and kind')
    ap.add_argument('--no-vae', action='store_true', help='skip the VAE round trips')
    a = ap.parse_args(); t0 = time.time()
    pairs = drawings(a.n); sets = {'drawings': pairs}
    if not a.no_vae:
        from dreambooth_nb.models import load_components
        vae = load_components('shapes-world').vae
        ims = [im for _, im in pairs]
        rt = [r for i in range(0, len(ims), 64) for r in vae_round_trip(vae, ims[i:i + 64])]
        sets['VAE round trips'] = [(at, r) for (at, _), r in zip(pairs, rt)]
    print(f'{len(pairs)} patterned drawings; a colour passes at a share of {MIN_PATTERN_SHARE:.0%} of the object\'s inside')
    print(f'{"":22s} | {"rule":22s} | true colour passes | a wrong colour passes')
    for name, ps in sets.items():
        tp, fp = rates(ps)
        for r, t, f in zip(RULES, tp, fp): print(f'{name:22s} | {r:22s} | {t:17.1%} | {f:20.1%}')
    print(f'({time.time() - t0:.0f} s)')
