"""Benchmark: where does a fine-tuned subject miss its unseen backgrounds, and is it the base model's doing?

Reads the runs that `dreambooth_learning.py --out DIR` keeps (each subject's instance images and fine-tuned model
`with-PP`) and prints, for each subject, the share of samples that show what the prompt asks, judged by geometry and
palette colour (`dreambooth_nb.shapes_geometry`), for these prompts (`--num-samples` each, seeds 0, 1, ..., DDIM 30
steps, guidance 7.5: `sample_prompt`'s defaults, the same as `dreambooth_learning.py`'s unless it was given other
sampling flags):

- VAE round trips, for each unseen background: `--num-samples` drawings of the subject on that background, drawn as
  instance images are (`subject_images`: random positions, sizes and angles), encoded and decoded by the base model's
  VAE, judged as the fine-tuned samples are: the most any denoiser working in these latents can reach (drawings
  themselves pass every time);
- base, colours named, for each unseen background: the base model's "a photo of a [colour] [pattern] [noun] on a
  [background] background", the subject's main colour and pattern kind in words. ShapesWorld's captions never name a
  pattern's colour, so these samples are judged on the outline, the main colour and the background only: can the base
  model draw this colour on this background?
- fine-tuned, for each unseen background: "a photo of sks [noun] on a [background] background", the subject itself
  (its pattern's colour too) on that background;
- fine-tuned, bare: "a photo of sks [noun]", the subject on any background;
- the fine-tuned rows again with the identifier's embedding scaled by each of `--scales` at sampling time (nothing
  retrained): would a shorter "sks" free the background, and at what cost to the subject?
- with `--seen`, the same for the backgrounds the instance images *do* show: each instance image through the VAE and
  back (does the judge still see the subject in what the model trains on?), "a photo of sks [noun] on a [background]
  background" for each of them, and which backgrounds the bare prompt's samples came out on. A subject that fails on a
  seen background fails its bare prompt too, whenever the bare prompt settles on that background.

The header gives the identifier's trained length. Without a fine-tuned model for a subject (no `runs`, or no run of
that subject in it) only the VAE and base-model rows are printed, on the backgrounds that the bench's default instance
images (seed 0) leave unseen.

    python tests/bench/dreambooth_learning.py --subjects "orange square with blue stripes" "red circle with white stripes" --out runs
    python tests/bench/unseen_backgrounds.py runs --scales 0.7 --subjects "orange square with blue stripes" "red circle with white stripes"
                                                   # about 1.5 min a subject on 2 cores, more with more scales
    python tests/bench/unseen_backgrounds.py --subjects "yellow cross with purple dots"   # the VAE and base-model rows only
    python tests/bench/unseen_backgrounds.py runs --seen --scales --subjects "green square with red checks"   # the seen backgrounds too
"""
import argparse, os
from collections import Counter
os.environ.setdefault('HF_HUB_OFFLINE', '1')
from pathlib import Path
import torch
from PIL import Image
from dreambooth_nb.models import load_components
from dreambooth_nb.shapes_world import parse_subject, describe_subject, caption, Attrs, subject_images
from dreambooth_nb.shapes_geometry import background_colour, judge_images, shows_subject, shows_shape, vae_round_trip
from dreambooth_nb.core import image_files
from dreambooth_nb.demo import IDENTIFIER, sample_prompt, instance_prompt, recontext_prompts, recontext_backgrounds

def share(js, ok): return sum(map(ok, js)) / max(1, len(js))

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('runs', nargs='?', help="the folder that dreambooth_learning.py's --out wrote (none: the VAE and base-model rows only)")
    p.add_argument('--subjects', nargs='+', required=True, help="subjects in the world's words, as given to dreambooth_learning.py")
    p.add_argument('--model', default='shapes-world', help="the base model those runs started from")
    p.add_argument('--scales', nargs='*', type=float, default=[0.7], help="the identifier's embedding scaled by each at sampling time (none: leave it as trained)")
    p.add_argument('--num-samples', type=int, default=24, help='samples per prompt')
    p.add_argument('--seen', action='store_true', help="also the instance images' own backgrounds, and where the bare prompt's samples land")
    a = p.parse_args(argv)
    base = load_components(a.model); sk = dict(progress=False)
    for text in a.subjects:
        sub = parse_subject(text); noun = sub['shape']; d = Path(a.runs) / text.replace(' ', '-') if a.runs else None
        tuned = d is not None and (d / 'with-PP' / 'model_index.json').exists()
        if d and not tuned: print(f'\n{d / "with-PP"} holds no fine-tuned model (run dreambooth_learning.py --out {a.runs} on "{text}"): VAE and base-model rows only.')
        real = [Image.open(f).convert('RGB') for f in image_files(d / 'instance')] if tuned else subject_images(5, 0, sub)
        shown = [background_colour(im) for im in real]; ctx = recontext_backgrounds(sub, shown)
        rows = {}
        for b in ctx:   # drawn as instance images are, all on b
            rows[f'VAE round trips of drawings on {b}'] = [share(judge_images(vae_round_trip(base.vae, subject_images(a.num_samples, 0, sub, (b,)))),
                                                                 lambda j: shows_subject(j, sub, b))]
        for b in ctx:
            named = caption(Attrs(noun, sub['colour'], b, pattern=sub.get('pattern', 'plain')))
            rows[f'base, colours named: "{named}"'] = [share(judge_images(sample_prompt(base, named, a.num_samples, **sk)),
                                                             lambda j: shows_shape(j, noun) and j['colour'] == sub['colour'] and j['background'] == b)]
        seen = shown if tuned and a.seen else []
        for i, (b, j) in enumerate(zip(seen, judge_images(vae_round_trip(base.vae, real)) if seen else [])):
            rows[f'VAE round trip of instance image {i} (on {b})'] = [float(shows_subject(j, sub, b))]
        scales, head, landed = [1.0], '', {}
        if tuned:
            c = load_components(str(d / 'with-PP')); scales = [1.0, *a.scales]
            W = c.text_encoder.get_input_embeddings().weight; ids = c.tokenizer(IDENTIFIER, add_special_tokens=False).input_ids; r0 = W[ids].detach().clone()
            head = f'; identifier {float(r0.norm(dim=-1).max()):.3f} long'
            for s in scales:
                with torch.no_grad(): W[ids] = r0 * s
                for b, q in zip(ctx + seen, recontext_prompts(ctx + seen, noun)):
                    rows.setdefault(f'fine-tuned: "{q}"' + (' (seen)' if b in seen else ''), []).append(
                        share(judge_images(sample_prompt(c, q, a.num_samples, **sk)), lambda j: shows_subject(j, sub, b)))
                js = judge_images(sample_prompt(c, instance_prompt(noun), a.num_samples, **sk))
                rows.setdefault(f'fine-tuned: "{instance_prompt(noun)}"', []).append(share(js, lambda j: shows_subject(j, sub)))
                landed[s] = ', '.join(f'{b} {n}' for b, n in Counter(j['background'] for j in js).most_common())
        w = max(map(len, rows)) + 2
        print(f'\n=== {describe_subject(sub)} (unseen backgrounds: {", ".join(ctx)}{head}) ===')
        if tuned: print(f"{'prompt':<{w}}" + ''.join(f'{"sks x" + format(s, "g"):>10}' for s in scales))
        for k, v in rows.items(): print(f'{k:<{w}}' + ''.join(f'{x:>10.0%}' for x in v), flush=True)
        if a.seen:
            for s, l in landed.items(): print(f'the bare prompt\'s samples (sks x{s:g}) came out on: {l}')

if __name__ == '__main__': main()
