"""ShapesWorld targets, in one table.

    python tests/bench/shapes_world.py [--n 200] [--guidance 5] [--steps 30] [--scheduler ddim] [--seed 0]

1. The evaluator's accuracy on 1,000 fresh drawn images (target >= 98% per attribute).
2. The shipped base model: `--n` images from random attribute prompts ("a photo of a red star on a blue background"),
   judged by the evaluator (targets: shape >= 80%, colour >= 90%, background >= 90%, pattern 'plain' >= 95%).
3. Wall time and peak memory (RSS) of that generation on this machine.
"""
import argparse, random, resource, time, os
import numpy as np, torch
from dreambooth_nb.models import load_components
from dreambooth_nb.sampler import sample
from dreambooth_nb.shapes_world import random_attrs, caption
from dreambooth_nb.shapes_eval import load_evaluator, evaluator_accuracy

def rss_mb(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--n', type=int, default=200); p.add_argument('--guidance', type=float, default=5.0)
    p.add_argument('--steps', type=int, default=30); p.add_argument('--scheduler', default='ddim')
    p.add_argument('--seed', type=int, default=0); p.add_argument('--batch-size', type=int, default=50)
    p.add_argument('--model', default='shapes-world', help='the model to judge (default: the shipped one)')
    a = p.parse_args()
    c = load_components(a.model, device='cpu')
    rng = random.Random(a.seed)
    attrs = [random_attrs(rng) for _ in range(a.n)]
    prompts = [caption(x) for x in attrs]
    base_rss, t0 = rss_mb(), time.time()
    ims = sample(c, prompts, guidance_scale=a.guidance, num_inference_steps=a.steps, scheduler=a.scheduler,
                 seed=[a.seed * 100_000 + i for i in range(a.n)], batch_size=a.batch_size)
    secs, peak = time.time() - t0, rss_mb()
    ev = load_evaluator()
    acc = evaluator_accuracy(ev, n=1000, seed=4242)
    preds = ev.predict(ims)
    gen = {k: float(np.mean([pr[k] == getattr(x, k) for pr, x in zip(preds, attrs)])) for k in ('shape', 'colour', 'background')}
    gen['pattern'] = float(np.mean([pr['pattern'] == 'plain' for pr in preds]))
    targets = dict(shape=0.80, colour=0.90, background=0.90, pattern=0.95)
    print(f'\nShapesWorld bench ({a.model}, threads={torch.get_num_threads()}, {a.scheduler} {a.steps} steps, guidance {a.guidance}, seed {a.seed})\n')
    print(f"{'measure':<54}{'value':>10}{'target':>10}  met")
    rows = [(f'evaluator accuracy, {k} (1,000 drawn images)', v, 0.98) for k, v in acc.items()]
    rows += [(f'base model, {k}' + (" = 'plain'" if k == 'pattern' else ' as prompted') + f' ({a.n} images)', gen[k], targets[k]) for k in gen]
    ok = True
    for name, v, t in rows:
        ok &= v >= t; print(f'{name:<54}{v:>10.1%}{t:>10.0%}  {"yes" if v >= t else "NO"}')
    print(f"{'generation wall time (s)':<54}{secs:>10.1f}{'':>10}  ({a.n / secs:.1f} images/s, batch {a.batch_size})")
    print(f"{'peak RSS during generation (MB)':<54}{peak:>10.0f}{'':>10}  (before: {base_rss:.0f} MB)")
    print(f"\nall targets met: {'yes' if ok else 'NO'}")

if __name__ == '__main__': main()
