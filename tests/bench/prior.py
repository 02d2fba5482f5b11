"""Benchmark: class-image generation speed at batch sizes 1, 4 and 16, and byte-identity of two runs.

    python tests/bench/prior.py                      # ShapesWorld if installed, else tiny components
    python tests/bench/prior.py --model tiny --num-images 16 --steps 10
"""
import argparse, os, shutil, tempfile, time
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch
from dreambooth_nb.models import load_components, tiny_components, ModelLoadError
from dreambooth_nb.prior import generate_class_images
from dreambooth_nb.sampler import max_pixel_diff
from PIL import Image

def get_components(name, device):
    if name in ('auto', 'shapes-world'):
        try: return load_components('shapes-world', device=device), 'shapes-world'
        except (FileNotFoundError, ModelLoadError):
            if name == 'shapes-world': raise
    if name in ('auto', 'tiny'):
        c = tiny_components(); return (c if device.type == 'cpu' else c.to(device)), 'tiny (shapes-world not installed)' if name == 'auto' else 'tiny'
    return load_components(name, device=device), name

def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument('--model', default='auto', help="'auto' (shapes-world, else tiny), 'tiny', 'shapes-world' or a folder")
    p.add_argument('--class-prompt', default='a star')
    p.add_argument('--num-images', type=int, default=32)
    p.add_argument('--steps', type=int, default=30)
    p.add_argument('--guidance-scale', type=float, default=7.5)
    p.add_argument('--batch-sizes', default='1,4,16')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    a = p.parse_args(argv)
    dev = torch.device(a.device); c, name = get_components(a.model, dev)
    print(f'model={name} device={dev} images={a.num_images} steps={a.steps} guidance={a.guidance_scale} threads={torch.get_num_threads()}')
    root = Path(tempfile.mkdtemp())
    kw = dict(num_inference_steps=a.steps, guidance_scale=a.guidance_scale, progress=False)
    try:
        generate_class_images(c, a.class_prompt, root / 'warmup', 2, batch_size=2, **kw)
        runs = {}
        for bs in map(int, a.batch_sizes.split(',')):
            if dev.type == 'cuda': torch.cuda.synchronize()
            t = time.perf_counter()
            runs[bs] = generate_class_images(c, a.class_prompt, root / f'bs{bs}', a.num_images, batch_size=bs, **kw)
            if dev.type == 'cuda': torch.cuda.synchronize()
            dt = time.perf_counter() - t
            print(f'batch {bs:>3}: {a.num_images / dt:7.2f} images/s  ({dt:.2f} s for {a.num_images})')
        bs0 = next(iter(runs))
        again = generate_class_images(c, a.class_prompt, root / 'again', a.num_images, batch_size=bs0, **kw)
        same = [f.read_bytes() for f in again] == [f.read_bytes() for f in runs[bs0]]
        print(f'two runs at batch {bs0} byte-identical: {same}')
        for bs, files in runs.items():
            ident = sum(f.read_bytes() == g.read_bytes() for f, g in zip(files, runs[bs0]))
            d = max_pixel_diff([Image.open(f) for f in files], [Image.open(g) for g in runs[bs0]]) * 255
            print(f'batch {bs} vs batch {bs0}: {ident}/{len(files)} files byte-identical, max pixel difference {d:.0f}/255')
    finally: shutil.rmtree(root)

from pathlib import Path
if __name__ == '__main__': main()
