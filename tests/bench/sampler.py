"""Benchmark: our `sample` against diffusers' `StableDiffusionPipeline`, identical settings, alternating runs.

Prints the median time of each, the speed ratio (pipeline time / our time; target >= 1.0), the largest pixel
difference between the two outputs, and the peak memory of each (CUDA: max allocated; CPU: the rise of resident
memory above its level before the first call after loading the model, polled every ms, measured in a fresh subprocess per method so the two do not share a high-water mark).

    python tests/bench/sampler.py                       # ShapesWorld if installed, else tiny components
    python tests/bench/sampler.py --model tiny --steps 10 --repeats 5
"""
import argparse, json, os, statistics, subprocess, sys, time
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch
from dreambooth_nb.models import load_components, tiny_components, ModelLoadError
from dreambooth_nb.sampler import sample, make_scheduler, make_generators, max_pixel_diff

def _tiny(device):
    c = tiny_components()
    return c if device.type == 'cpu' else c.to(device)

def get_components(name, device):
    if name == 'tiny': return _tiny(device), 'tiny'
    if name == 'auto':
        try: return load_components('shapes-world', device=device), 'shapes-world'
        except (FileNotFoundError, ModelLoadError): return _tiny(device), 'tiny (shapes-world not installed)'
    return load_components(name, device=device), name

_PIPES = {}
def run(method, c, a):
    "One call of `sample`, or of a pipeline built once (so its construction is not timed)."
    prompts = [a.prompt] * a.num_images
    kw = dict(guidance_scale=a.guidance_scale, num_inference_steps=a.steps)
    if method == 'ours': return sample(c, prompts, scheduler=a.scheduler, seed=a.seed, **kw)
    if id(c) not in _PIPES:
        _PIPES[id(c)] = pipe = c.pipeline(scheduler=make_scheduler(c, a.scheduler)); pipe.set_progress_bar_config(disable=True)
    return _PIPES[id(c)](prompts, generator=make_generators(a.seed, len(prompts)), **kw).images

def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize()

def peak_memory(method, a):
    "Peak memory of one call in a fresh process (CPU: rise of ru_maxrss, MB; CUDA: max allocated, MB)."
    out = subprocess.run([sys.executable, __file__, '--_child', method] + a.argv, capture_output=True, text=True)
    if out.returncode: raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])['peak_mb']

def _rss_mb():
    with open('/proc/self/statm') as f: return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20

def rss_peak_during(fn, interval=0.001):
    "The rise of resident memory (MB) above its level before `fn()`, sampled every `interval` s in a thread (Linux)."
    import threading
    base = _rss_mb(); peak = [base]; done = threading.Event()
    def poll():
        while not done.is_set(): peak[0] = max(peak[0], _rss_mb()); time.sleep(interval)
    t = threading.Thread(target=poll); t.start()
    try: fn()
    finally: done.set(); t.join()
    return max(peak[0], _rss_mb()) - base

def child(method, a):
    dev = torch.device(a.device); c, _ = get_components(a.model, dev)
    if dev.type == 'cuda':
        run(method, c, a)  # warm up (kernels, cuDNN autotuning); the peak counter is reset below
        torch.cuda.reset_peak_memory_stats(); base = torch.cuda.memory_allocated(); run(method, c, a); sync(dev)
        peak = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        peak = rss_peak_during(lambda: run(method, c, a))
    print(json.dumps(dict(peak_mb=peak)))

def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument('--model', default='auto', help="'auto' (shapes-world, else tiny), 'tiny', a folder or 'shapes-world'")
    p.add_argument('--prompt', default='a red star on a blue background')
    p.add_argument('--num-images', type=int, default=4)
    p.add_argument('--steps', type=int, default=30)
    p.add_argument('--scheduler', default='ddim')
    p.add_argument('--guidance-scale', type=float, default=7.5)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--_child', default=None)
    a = p.parse_args(argv)
    a.argv = [x for x in (argv if argv is not None else sys.argv[1:])]
    if a._child: return child(a._child, a)
    dev = torch.device(a.device); c, name = get_components(a.model, dev)
    print(f'model={name} device={dev} images={a.num_images} steps={a.steps} scheduler={a.scheduler} '
          f'guidance={a.guidance_scale} threads={torch.get_num_threads()}')
    outs = {m: run(m, c, a) for m in ('ours', 'pipe')}   # warm up both
    times = {'ours': [], 'pipe': []}
    for r in range(a.repeats):
        for m in (('ours', 'pipe') if r % 2 == 0 else ('pipe', 'ours')):   # alternate, and alternate who goes first
            sync(dev); t = time.perf_counter(); run(m, c, a); sync(dev); times[m].append(time.perf_counter() - t)
    med = {m: statistics.median(v) for m, v in times.items()}
    print(f"ours:     median {med['ours']:.3f} s  runs {[round(x, 3) for x in times['ours']]}")
    print(f"pipeline: median {med['pipe']:.3f} s  runs {[round(x, 3) for x in times['pipe']]}")
    print(f"speed ratio (pipeline time / our time): {med['pipe'] / med['ours']:.3f}x  (target >= 1.0)")
    print(f"max pixel difference ours vs pipeline: {max_pixel_diff(outs['ours'], outs['pipe']) * 255:.0f}/255")
    mem = {m: peak_memory(m, a) for m in ('ours', 'pipe')}
    unit = 'CUDA max allocated' if dev.type == 'cuda' else 'rise of RSS during the first call'
    print(f"peak memory ({unit}): ours {mem['ours']:.1f} MB, pipeline {mem['pipe']:.1f} MB")

if __name__ == '__main__': main()
