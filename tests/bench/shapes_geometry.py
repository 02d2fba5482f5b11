"""ShapesWorld's base model judged by geometry and palette colour (not by the CNN evaluator, which credits blobs).

    python tests/bench/shapes_geometry.py [--model shapes-world] [--n 24] [--guidance 7.5] [--steps 30] [--seed 0]

Prints one row per target of the base model:
1. every shape, "a photo of a [shape]" (no colour, the class prompt prior preservation samples): share of samples whose
   best-fitting outline is the named shape (target >= 85% for each of the 8 shapes);
2. every shape: mean IoU of the named shape's outline, against the VAE's own round trip of real drawings of that shape
   (target >= 90% of the round trip's IoU);
3. colour-named prompts ("a photo of a red star on a blue background"): right shape by outline (target >= 90%),
   and colour and background read off the palette;
4. the VAE alone, per pattern: share of round trips (encode, decode) of drawn patterned objects that still show the
   object (outline IoU >= 0.7, main colour, the pattern's colour visible, background): what DreamBooth subjects can reach.
DDIM, `--steps` steps, guidance `--guidance`; sample i of every prompt uses seed `seed*100000 + i`.
"""
import argparse, random, time, os
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import numpy as np, torch
from dreambooth_nb.models import load_components
from dreambooth_nb.sampler import sample
from dreambooth_nb.shapes_world import SHAPES, random_attrs, caption
from dreambooth_nb.shapes_geometry import judge_images, vae_round_trip_iou, vae_round_trip_kept

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', default='shapes-world'); p.add_argument('--n', type=int, default=24, help='samples per shape prompt')
    p.add_argument('--n-named', type=int, default=96, help='colour-named prompts'); p.add_argument('--guidance', type=float, default=7.5)
    p.add_argument('--steps', type=int, default=30); p.add_argument('--seed', type=int, default=0)
    a = p.parse_args(argv)
    t0 = time.time(); c = load_components(a.model, device='cpu')
    seeds = lambda n: [a.seed * 100_000 + i for i in range(n)]
    rt = vae_round_trip_iou(c.vae, n=a.n)
    print(f'ShapesWorld geometry bench ({a.model}, DDIM {a.steps} steps, guidance {a.guidance}, seed {a.seed}, {a.n} samples per shape, threads={torch.get_num_threads()})\n')
    print(f"{'prompt':<28}{'best fit is the shape':>22}{'mean IoU':>10}{'VAE round trip':>16}{'IoU / round trip':>18}  met (>=85%, >=0.90)")
    ok = True
    for s in SHAPES:
        js = judge_images(sample(c, [f'a photo of a {s}'] * a.n, guidance_scale=a.guidance, num_inference_steps=a.steps,
                                 scheduler='ddim', seed=seeds(a.n)))
        best, iou = np.mean([j['shape'] == s for j in js]), np.mean([j['ious'][s] for j in js])
        met = best >= 0.85 and iou / rt[s] >= 0.9; ok &= met
        print(f"{'a photo of a ' + s:<28}{best:>22.0%}{iou:>10.3f}{rt[s]:>16.3f}{iou / rt[s]:>18.2f}  {'yes' if met else 'NO'}", flush=True)
    rng = random.Random(a.seed); attrs = [random_attrs(rng) for _ in range(a.n_named)]
    js = judge_images(sample(c, [caption(x) for x in attrs], guidance_scale=a.guidance, num_inference_steps=a.steps,
                             scheduler='ddim', seed=seeds(a.n_named)))
    shape = np.mean([j['shape'] == x.shape for j, x in zip(js, attrs)]); ok &= shape >= 0.9
    print(f"\ncolour-named prompts ({a.n_named}): right shape by outline {shape:.0%} (target >= 90%: {'yes' if shape >= 0.9 else 'NO'}), "
          f"colour {np.mean([j['colour'] == x.colour for j, x in zip(js, attrs)]):.0%}, "
          f"background {np.mean([j['background'] == x.background for j, x in zip(js, attrs)]):.0%}")
    kept = vae_round_trip_kept(c.vae, seed=a.seed + 123)   # the VAE's round trip of drawn objects with each pattern
    print('VAE round trip of 48 drawn objects per pattern, still the object (outline, colours, background): ' + ', '.join(f'{k} {v:.0%}' for k, v in kept.items()))
    print(f"\nall base-model targets met: {'yes' if ok else 'NO'} ({time.time() - t0:.0f}s)")

if __name__ == '__main__': main()
