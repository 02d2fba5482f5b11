"""Benchmark: does guidance break a fine-tuned subject, and is it the empty prompt's doing?

Classifier-free guidance samples with two predictions of one UNet, the prompt's and the empty prompt's (chapter
`03_sampler`). DreamBooth trains only the first, yet the same weights serve the second. This script reads the runs that
`dreambooth_learning.py --out DIR` keeps (each subject's instance images and fine-tuned model `with-PP`) and prints, for
the bare instance prompt and each unseen-background prompt, the share of samples that show the subject (judged by
geometry and palette colour, `dreambooth_nb.shapes_geometry`; `--num-samples` each, seeds 0, 1, ..., DDIM 30 steps):

- fine-tuned, at each of `--guidance-scales` (7.5 first: the bench's and the demo's);
- the fine-tuned model's prompt prediction, guided at the first of those scales away from the *base* model's empty-prompt prediction
  instead of its own: the row a fine-tuning that left the empty prompt alone could reach;
- with `--base-shares`, guided away from a mix of the two empty-prompt predictions instead, `share` of the base model's and
  the rest of the fine-tuned model's (1, the default, is the row above), and "a photo of a [noun]" judged at each mix too
  (the class shape and the drift), since the same empty prompt guides the class prompt.

    python tests/bench/dreambooth_learning.py --subjects "purple heart with white stripes" --out runs
    python tests/bench/guidance_uncond.py runs --subjects "purple heart with white stripes"   # about 1.5 min a subject on 2 cores
    python tests/bench/guidance_uncond.py runs --guidance-scales 7.5 --base-shares 0.25 0.5 1 --subjects "purple heart with white stripes"
"""
import argparse, copy, os
os.environ.setdefault('HF_HUB_OFFLINE', '1')
from pathlib import Path
import torch
from PIL import Image
from dreambooth_nb.models import load_components
from dreambooth_nb.shapes_world import parse_subject, describe_subject
from dreambooth_nb.shapes_geometry import background_colour, judge_images, shows_subject, shows_shape, looks_like_subject
from dreambooth_nb.core import image_files
from dreambooth_nb.demo import sample_prompt, instance_prompt, class_prompt, recontext_prompts, recontext_backgrounds
from unseen_backgrounds import share   # its sibling bench: the share of judged samples that pass

class EmptyPromptFrom(torch.nn.Module):
    "A UNet for guided sampling whose first half of the batch (the empty prompt's) is `share` of `other`'s prediction and the rest `unet`'s."
    def __init__(self, unet, other, share=1.0):
        super().__init__(); self.unet, self.other, self.share = unet, other, share
        self.config, self.dtype, self.device = unet.config, unet.dtype, unet.device
    def forward(self, x, t, encoder_hidden_states=None, return_dict=False):
        (xu, xc), (eu, ec) = x.chunk(2), encoder_hidden_states.chunk(2)
        u = self.other(xu, t, encoder_hidden_states=eu, return_dict=False)[0]
        if self.share < 1: u = self.share * u + (1 - self.share) * self.unet(xu, t, encoder_hidden_states=eu, return_dict=False)[0]
        return (torch.cat([u, self.unet(xc, t, encoder_hidden_states=ec, return_dict=False)[0]]),)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('runs', help="the folder that dreambooth_learning.py's --out wrote")
    p.add_argument('--subjects', nargs='+', required=True, help="subjects in the world's words, as given to dreambooth_learning.py")
    p.add_argument('--model', default='shapes-world', help="the base model those runs started from")
    p.add_argument('--guidance-scales', nargs='+', type=float, default=[7.5, 3.0], help='guidance scales for the fine-tuned rows')
    p.add_argument('--base-shares', nargs='+', type=float, default=[1.0], help="the base model's share of the empty-prompt prediction, one column each")
    p.add_argument('--num-samples', type=int, default=24, help='samples per prompt')
    a = p.parse_args(argv)
    base = load_components(a.model)
    for text in a.subjects:
        sub = parse_subject(text); noun = sub['shape']; d = Path(a.runs) / text.replace(' ', '-')
        if not (d / 'with-PP' / 'model_index.json').exists(): p.error(f'{d / "with-PP"} holds no fine-tuned model: run dreambooth_learning.py --out {a.runs} --subjects "{text}" first.')
        real = [Image.open(f).convert('RGB') for f in image_files(d / 'instance')]
        ctx = recontext_backgrounds(sub, [background_colour(im) for im in real])
        prompts = {instance_prompt(noun): None, **dict(zip(recontext_prompts(ctx, noun), ctx))}
        c = load_components(str(d / 'with-PP'))
        def mixed(share): m = copy.copy(c); m.unet = EmptyPromptFrom(c.unet, base.unet, share); return m
        g0 = a.guidance_scales[0]; cols = [(f'g={g:g}', c, g) for g in a.guidance_scales]
        cols += [(f'base empty prompt{"" if s == 1 else f" x{s:g}"}, g={g0:g}', mixed(s), g0) for s in a.base_shares]
        w = max(map(len, prompts)) + 4; cw = max(26, max(len(name) for name, _, _ in cols) + 2)
        print(f'\n=== {describe_subject(sub)} (unseen backgrounds: {", ".join(ctx)}) ===')
        print(f"{'prompt':<{w}}" + ''.join(f'{name:>{cw}}' for name, _, _ in cols))
        for q, b in prompts.items():
            vals = [share(judge_images(sample_prompt(m, q, a.num_samples, guidance_scale=g, progress=False)), lambda j: shows_subject(j, sub, b)) for _, m, g in cols]
            print(f'{q!r:<{w}}' + ''.join(f'{v:>{cw}.0%}' for v in vals), flush=True)
        js = [judge_images(sample_prompt(m, class_prompt(noun), a.num_samples, guidance_scale=g, progress=False)) for _, m, g in cols]
        for name, ok in [(f'{class_prompt(noun)!r}: the class shape', lambda j: shows_shape(j, noun)),
                         (f'{class_prompt(noun)!r}: drift', lambda j: looks_like_subject(j, sub))]:
            print(f'{name:<{w}}' + ''.join(f'{share(j, ok):>{cw}.0%}' for j in js), flush=True)

if __name__ == '__main__': main()
