"""Benchmark: does DreamBooth learn the demo subject, and does prior preservation prevent language drift?

Two DreamBooth runs on ShapesWorld's demo subject (a green heart with yellow dots), same seed, same data, same
settings as `dreambooth_nb demo`: one with prior preservation (λ=1), one without (λ=0). The evaluator reads every
sample; one table compares the base model and both runs:

- subject fidelity: share of "a photo of sks heart" samples with the subject's shape, colour and pattern (target ≥ 80% with PP);
- language drift: share of "a photo of a heart" samples showing the subject's pattern (target: with PP ≤ half of without);
- colour diversity of "a photo of a heart" samples: distinct colours and entropy (target: higher with PP);
- mean evaluator-embedding cosine similarity of "sks heart" samples to the real subject images (our DINO analogue);
- wall time of each run (training, and training + sampling).

    python tests/bench/dreambooth_learning.py                       # shapes-world, 50 samples per prompt (~10 min on 2 CPU cores)
    python tests/bench/dreambooth_learning.py --model /tmp/sw_standin --steps 20 --num-samples 8 --num-class-images 8
"""
import argparse, inspect, json, os, shutil, tempfile, time
os.environ.setdefault('HF_HUB_OFFLINE', '1')
from pathlib import Path
import torch
from PIL import Image
from dreambooth_nb.models import load_components
from dreambooth_nb.prior import generate_class_images
from dreambooth_nb.shapes_eval import load_evaluator
from dreambooth_nb.core import save_image_atomic
from dreambooth_nb.demo import (demo, labelled_grid, write_instance_images, sample_prompt, fine_tune, learning_figures, figures_table, FIGURE_NAMES,
                                recontext_prompts, INSTANCE_PROMPT, CLASS_PROMPT)

D = {k: v.default for k, v in inspect.signature(demo).parameters.items()}   # the demo's defaults

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--model', default='shapes-world', help="the base model: 'shapes-world' or a diffusers folder")
    for k in ('steps', 'learning_rate', 'batch_size', 'num_class_images', 'class_steps', 'sample_steps', 'guidance_scale', 'scheduler', 'seed'):
        p.add_argument('--' + k.replace('_', '-'), type=type(D[k]), default=D[k], help=f'as in dreambooth_nb demo (default {D[k]})')
    p.add_argument('--num-samples', type=int, default=50, help='samples of the instance and class prompts per model')
    p.add_argument('--recontext-samples', type=int, default=20, help='samples per recontextualisation prompt per model')
    p.add_argument('--out', default=None, help='keep the runs (and a grid of each model\'s samples) in this folder (default: a temporary folder, deleted)')
    p.add_argument('--json', default=None, help='also write the figures to this JSON file')
    a = p.parse_args(argv)
    root = Path(a.out) if a.out else Path(tempfile.mkdtemp(prefix='db-learning-'))
    print(f'threads={torch.get_num_threads()} model={a.model} steps={a.steps} lr={a.learning_rate} batch={a.batch_size} '
          f'class_images={a.num_class_images}x{a.class_steps} steps, samples={a.num_samples}/prompt x{a.sample_steps} steps '
          f'guidance={a.guidance_scale} scheduler={a.scheduler} seed={a.seed}', flush=True)
    try:
        t = time.time()
        base = load_components(a.model)
        real = [Image.open(f).convert('RGB') for f in write_instance_images(root / 'instance', 5, a.seed)]
        generate_class_images(base, CLASS_PROMPT, root / 'class', a.num_class_images, seed=a.seed, batch_size=16,
                              guidance_scale=a.guidance_scale, num_inference_steps=a.class_steps, scheduler=a.scheduler)
        t_class = time.time() - t
        ev = load_evaluator()
        prompts = {INSTANCE_PROMPT: a.num_samples, **{q: a.recontext_samples for q in recontext_prompts()}, CLASS_PROMPT: a.num_samples}
        sk = dict(seed=a.seed, steps=a.sample_steps, guidance_scale=a.guidance_scale, scheduler=a.scheduler)
        def draw_all(c, name):
            s = {q: sample_prompt(c, q, n, **sk) for q, n in prompts.items()}
            if a.out: save_image_atomic(labelled_grid([(f'{name}: "{q}"', ims) for q, ims in s.items()], ncols=8), root / f'samples-{name.split(" (")[0].replace(" ", "-")}.png')
            return s
        t = time.time(); cols = {'base model': learning_figures(ev, draw_all(base, 'base model'), real)}; t_base = time.time() - t
        times = {}
        for name, lam in (('with PP (λ=1)', 1.0), ('without PP', 0.0)):
            print(f'\n=== {name} ===', flush=True)
            t = time.time()
            trained, res = fine_tune(base, root / name.split(' (')[0].replace(' ', '-'), root / 'instance', root / 'class',
                                     steps=a.steps, learning_rate=a.learning_rate, batch_size=a.batch_size,
                                     prior_loss_weight=lam, num_class_images=a.num_class_images, seed=a.seed,
                                     train_text_encoder=D['train_text_encoder'])
            t_train = time.time() - t
            cols[name] = learning_figures(ev, draw_all(trained, name), real)
            times[name] = dict(train_s=t_train, run_s=time.time() - t, final_loss=res['losses'][-1])
        print(f'\nclass images: {t_class:.0f}s (shared by the PP run); base-model sampling: {t_base:.0f}s\n')
        for n in times: cols[n].update(train_s=times[n]['train_s'], run_s=times[n]['run_s'])
        print(figures_table(cols, {**FIGURE_NAMES, 'train_s': 'training wall time (s)', 'run_s': 'training + sampling wall time (s)'}))
        pp, no = cols['with PP (λ=1)'], cols['without PP']
        checks = [(f"subject fidelity with PP ≥ 80%: {pp['subject_fidelity']:.0%}", pp['subject_fidelity'] >= 0.8),
                  (f"drift with PP ≤ ½ drift without: {pp['class_pattern_drift']:.0%} vs {no['class_pattern_drift']:.0%}"
                   + (' (no drift in either run: the comparison says nothing)' if no['class_pattern_drift'] == 0 else ''),
                   pp['class_pattern_drift'] <= 0.5 * no['class_pattern_drift']),
                  (f"colour entropy with PP > without: {pp['class_colour_entropy']:.2f} vs {no['class_colour_entropy']:.2f} bits "
                   f"({pp['class_colours']} vs {no['class_colours']} colours)", pp['class_colour_entropy'] > no['class_colour_entropy'])]
        print('\nTargets:')
        for msg, ok in checks: print(f"  [{'PASS' if ok else 'FAIL'}] {msg}")
        if a.json:
            Path(a.json).write_text(json.dumps(dict(args=vars(a), figures=cols, times=times, class_images_s=t_class), indent=1))
    finally:
        if not a.out: shutil.rmtree(root, ignore_errors=True)

if __name__ == '__main__': main()
