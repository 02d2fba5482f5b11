"""Benchmark: does DreamBooth on ShapesWorld learn *any* subject, put it in new contexts, and keep the class?

For each subject (default: three that the demo's recipe was not tuned on), runs the recipe of `dreambooth_nb demo`
(captioned instance images, class images, prior preservation with the base model's prediction as its target) and judges
every sample by geometry and palette colour (`dreambooth_nb.shapes_geometry`), DDIM `--sample-steps` steps, guidance 7.5:

| measure | target |
|---|---|
| "a photo of sks [noun]": the subject (outline IoU >= 0.7, main colour, pattern colour visible) | >= 80% |
| "a photo of sks [noun] on a [colour] background", colours no instance image shows: subject on that background | >= 70% |
| "a photo of a [noun]" after fine-tuning: the class shape, relative to the base model's rate | >= 90% |
| "a photo of a [noun]" after fine-tuning: in the subject's colours (drift) | <= 10% |

    python tests/bench/dreambooth_learning.py                                  # 3 subjects, 24 samples per prompt (~15 min on 2 cores)
    python tests/bench/dreambooth_learning.py --subjects "green heart with yellow dots" --no-pp   # also the run without prior preservation
    python tests/bench/dreambooth_learning.py --subjects "red star with white stripes" --class-guidance-scale 1 --num-class-images 200
                                                                               # class images without guidance (chapter 08, step 2)
    python tests/bench/dreambooth_learning.py --no-distill-prior               # the paper's prior loss (the noise as its target)
    python tests/bench/dreambooth_learning.py --anchor-empty-prob 0.5 --anchor-class-prob 0.25   # anchors (chapter 08, "Anchors")
    python tests/bench/dreambooth_learning.py --no-cap-identifier-norm         # the identifier's embedding free to grow (chapter 08, step 3)
    python tests/bench/dreambooth_learning.py --subjects "orange square with blue stripes" --caption-dropout-prob 0.1 --caption-dropout-max-timestep 400
                                                                               # the empty prompt learns to finish stripes (chapter 08, step 3)
"""
import argparse, inspect, json, os, shutil, tempfile, time
os.environ.setdefault('HF_HUB_OFFLINE', '1')
from pathlib import Path
import numpy as np, torch
from PIL import Image
from dreambooth_nb.models import load_components
from dreambooth_nb.config import timestep_problem
from dreambooth_nb.prior import generate_class_images
from dreambooth_nb.shapes_world import parse_subject, describe_subject
from dreambooth_nb.shapes_geometry import background_colour
from dreambooth_nb.core import save_image_atomic
from dreambooth_nb.demo import (demo, labelled_grid, write_instance_images, sample_prompt, fine_tune, learning_figures, figures_table,
                                FIGURE_NAMES, instance_prompt, class_prompt, class_prompts, recontext_prompts, recontext_backgrounds)

D = {k: v.default for k, v in inspect.signature(demo).parameters.items()}   # the demo's defaults
SUBJECTS = ('orange square with blue stripes', 'purple diamond with white dots', 'blue circle with yellow checks')

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--model', default='shapes-world', help="the base model: 'shapes-world' or a diffusers folder")
    p.add_argument('--subjects', nargs='+', default=list(SUBJECTS), help='subjects in the world\'s words')
    for k in ('steps', 'learning_rate', 'prior_loss_weight', 'text_encoder_lr', 'batch_size', 'bare_prompt_prob', 'snr_gamma', 'caption_dropout_prob', 'class_caption_dropout_prob',
              'anchor_empty_prob', 'anchor_class_prob',
              'caption_dropout_max_timestep', 'num_class_images', 'class_background_share', 'class_steps', 'class_guidance_scale',
              'sample_steps', 'guidance_scale', 'scheduler', 'seed'):
        p.add_argument('--' + k.replace('_', '-'), type=int if k == 'caption_dropout_max_timestep' else type(D[k]), default=D[k], help=f'as in dreambooth_nb demo (default {D[k]})')
    for k in ('distill_prior', 'cap_identifier_norm'):
        p.add_argument('--' + k.replace('_', '-'), action=argparse.BooleanOptionalAction, default=D[k], help=f'as in dreambooth_nb demo (default {D[k]})')
    p.add_argument('--num-samples', type=int, default=24, help='samples per prompt (each recontextualisation prompt gets as many)')
    p.add_argument('--no-pp', action='store_true', help='also train without prior preservation, for comparison')
    p.add_argument('--out', default=None, help='keep the runs and a grid of each model\'s samples in this folder (default: a temporary folder)')
    p.add_argument('--json', default=None, help='also write the figures to this JSON file')
    a = p.parse_args(argv)
    if (m := timestep_problem('--caption-dropout-max-timestep', a.caption_dropout_max_timestep, '--caption-dropout-prob',
                              a.caption_dropout_prob + a.class_caption_dropout_prob)): p.error(m)
    for text in a.subjects:   # every subject checked before any trains, so that a typo in the last does not waste a run
        try: parse_subject(text)
        except ValueError as e: p.error(str(e))
    root = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix='db-learning-'))
    print(f'threads={torch.get_num_threads()} model={a.model} steps={a.steps} lr={a.learning_rate} λ={a.prior_loss_weight} distill_prior={a.distill_prior} cap_identifier_norm={a.cap_identifier_norm} batch={a.batch_size} '
          f'anchors={a.anchor_empty_prob:g} empty, {a.anchor_class_prob:g} class bare_prompt_prob={a.bare_prompt_prob} snr_gamma={a.snr_gamma} caption_dropout={a.caption_dropout_prob} class_caption_dropout={a.class_caption_dropout_prob} (below t={a.caption_dropout_max_timestep}) class_images={a.num_class_images} ({a.class_background_share:.0%} with a background, guidance {a.class_guidance_scale:g}) '
          f'samples={a.num_samples}/prompt x{a.sample_steps} steps guidance={a.guidance_scale} {a.scheduler} seed={a.seed}', flush=True)
    base = load_components(a.model); allres = {}
    try:
        for text in a.subjects:
            sub = parse_subject(text); noun = sub['shape']; d = root / text.replace(' ', '-'); t0 = time.time()
            files = write_instance_images(d / 'instance', sub, 5, a.seed)
            real = [Image.open(f).convert('RGB') for f in files]
            ctx = recontext_backgrounds(sub, [background_colour(im) for im in real])
            prompts = [instance_prompt(noun), *recontext_prompts(ctx, noun), class_prompt(noun)]
            sk = dict(seed=a.seed, steps=a.sample_steps, guidance_scale=a.guidance_scale, scheduler=a.scheduler, progress=False)
            def judge(c, name):
                s = {q: sample_prompt(c, q, a.num_samples, **sk) for q in prompts}
                save_image_atomic(labelled_grid([(f'{name}: "{q}"', ims) for q, ims in s.items()], cell=64, ncols=12), d / f'samples-{name}.png')
                return learning_figures(s, real, sub, ctx)
            cols = {'base model': judge(base, 'base')}
            generate_class_images(base, class_prompt(noun), d / 'class', a.num_class_images, seed=a.seed, batch_size=16,
                                  prompts=class_prompts(noun, a.num_class_images, a.class_background_share), guidance_scale=a.class_guidance_scale,
                                  num_inference_steps=a.class_steps, scheduler=a.scheduler, progress=False)
            for name, lam in [('with PP', a.prior_loss_weight)] + ([('without PP', 0.0)] if a.no_pp else []):
                t = time.time()
                trained, res = fine_tune(base, d / name.replace(' ', '-'), d / 'instance', d / 'class', noun=noun, steps=a.steps,
                                         learning_rate=a.learning_rate, batch_size=a.batch_size, prior_loss_weight=lam,
                                         num_class_images=a.num_class_images, bare_prompt_prob=a.bare_prompt_prob, seed=a.seed,
                                         caption_dropout_prob=a.caption_dropout_prob, class_caption_dropout_prob=a.class_caption_dropout_prob,
                                         caption_dropout_max_timestep=a.caption_dropout_max_timestep,
                                         distill_prior=a.distill_prior, anchor_empty_prob=a.anchor_empty_prob if lam else 0.0, anchor_class_prob=a.anchor_class_prob if lam else 0.0,
                                         train_text_encoder=D['train_text_encoder'], text_encoder_lr=a.text_encoder_lr,
                                         cap_identifier_norm=a.cap_identifier_norm, snr_gamma=a.snr_gamma)
                cols[name] = {**judge(trained, name.replace(' ', '-')), 'train_s': time.time() - t}
            print(f'\n=== {describe_subject(sub)} (unseen backgrounds: {", ".join(ctx)}; {time.time() - t0:.0f}s) ===')
            names = {**{k: v for k, v in FIGURE_NAMES.items() if k != 'embedding_similarity'}, 'train_s': 'training wall time (s)'}
            print(figures_table(cols, noun, names=names), flush=True)
            allres[text] = cols
        rows = [('"a photo of sks [noun]": the subject', lambda c, b: c['subject_fidelity'], 0.8, '>='),
                ('"... on a [colour] background" (unseen): subject on it', lambda c, b: c['recontext_fidelity'], 0.7, '>='),
                ('"a photo of a [noun]": class shape / base model\'s', lambda c, b: c['class_is_class'] / max(b['class_is_class'], 1e-9), 0.9, '>='),
                ('"a photo of a [noun]": in the subject\'s colours (drift)', lambda c, b: c['class_subject_drift'], 0.1, '<=')]
        print(f'\nTargets (with prior preservation), per subject:')
        w = max(len(s) for s in a.subjects)
        print(f"{'measure':<58}" + ''.join(f'{s[:w]:>{w + 2}}' for s in a.subjects) + '   target')
        for name, f, t, op in rows:
            vals = [f(allres[s]['with PP'], allres[s]['base model']) for s in a.subjects]
            ok = all(v >= t if op == '>=' else v <= t for v in vals)
            print(f'{name:<58}' + ''.join(f'{v:>{w + 2}.0%}' for v in vals) + f'   {op} {t:.0%}  {"met" if ok else "NOT met"}')
        if a.json: Path(a.json).write_text(json.dumps(dict(args=vars(a), figures=allres), indent=1))
    finally:
        if not a.out: shutil.rmtree(root, ignore_errors=True)

if __name__ == '__main__': main()
