"""Benchmark: `dreambooth_nb train` against diffusers' own `examples/dreambooth/train_dreambooth.py`.

Both trainers run on the same model folder with identical flags (5 ShapesWorld subject images, prior preservation
with class images drawn once beforehand and shared, batch 1, same learning rate, seed 0, fp32, no checkpoints, no
validation), alternating (ref, ours, ref, ours, ...), each in its own process with the same thread count.

Per-step time: every trainer runs twice per round, for a short and a long step count; the difference of the wall
times divided by the difference of the step counts is the time of one training step, with start-up (imports, model
loading, latent caching) and the final save cancelled out. Peak memory: the kernel's peak resident set size of the
trainer process (`os.wait4`), i.e. the whole run, including loading and saving.

Target (issue 6): ours ≥ 1.5× faster per step (cached latents and text embeddings).

Setup (once; the reference imports torchvision, which must never go into the project's venv):

    # 1. the reference script, at a version whose `check_min_version` accepts the installed diffusers
    #    (with the search tool: fetch github:huggingface/diffusers, then)
    mkdir -p /tmp/ref && git --git-dir=/work/.mirror/huggingface+diffusers/repo \\
        show HEAD:examples/dreambooth/train_dreambooth.py > /tmp/ref/train_dreambooth.py
    #    (or: curl -L https://raw.githubusercontent.com/huggingface/diffusers/v0.42.1/examples/dreambooth/train_dreambooth.py)
    # 2. a separate venv with the same versions as the project's, plus torchvision
    python3 -m venv /tmp/venv-ref
    /tmp/venv-ref/bin/pip install torch==2.14.1 torchvision==0.29.1
    /tmp/venv-ref/bin/pip install $(/tmp/venv/bin/pip freeze | grep -iE '^(diffusers|transformers|accelerate|huggingface.hub|tokenizers|safetensors|numpy|pillow|tensorboard|jinja2|regex|protobuf)==')
    # 3. optional, on a machine short of RAM for the page cache: let both venvs share the (identical) torch files, so
    #    the two trainers do not evict each other's 5 GB of libraries (cold imports took up to 100 s here otherwise)
    A=/tmp/venv/lib/python3.11/site-packages; B=/tmp/venv-ref/lib/python3.11/site-packages
    for d in torch nvidia triton; do diff -rq --exclude=__pycache__ $A/$d $B/$d && rm -rf $B/$d && cp -al $A/$d $B/$d; done

Run (from the repository root, project venv active):

    DIFFUSERS_TRAIN_DREAMBOOTH=/tmp/ref/train_dreambooth.py REF_PYTHON=/tmp/venv-ref/bin/python \\
        python tests/bench/train_vs_diffusers.py                       # ShapesWorld, 10 and 30 steps, 2 rounds
    python tests/bench/train_vs_diffusers.py --model /tmp/tiny_sd --steps 5,15 --rounds 1   # a quick check

Exits 2 with instructions when the reference script, its venv or our trainer is missing.
"""
import argparse, json, os, random, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_MODEL = REPO / 'dreambooth_nb' / 'assets' / 'shapes-world'
DEFAULT_REF_PYTHON = '/tmp/venv-ref/bin/python'

GET_REF = """The reference script is missing ({path}).
Get diffusers' examples/dreambooth/train_dreambooth.py, at a version whose check_min_version(...) accepts the
diffusers installed in the reference venv, e.g.
    git clone --depth 1 https://github.com/huggingface/diffusers /tmp/diffusers   # or the search tool's `fetch`
    mkdir -p /tmp/ref && cp /tmp/diffusers/examples/dreambooth/train_dreambooth.py /tmp/ref/
and pass it with --ref-script PATH or DIFFUSERS_TRAIN_DREAMBOOTH=PATH. Never copy it into this project."""

GET_VENV = """The reference interpreter {python} cannot run the reference script: {why}
Make a SEPARATE venv (torchvision must never be installed into the project's venv):
    python3 -m venv /tmp/venv-ref
    /tmp/venv-ref/bin/pip install torch==2.14.1 torchvision==0.29.1
    /tmp/venv-ref/bin/pip install $({pip} freeze | grep -iE '^(diffusers|transformers|accelerate|huggingface.hub|tokenizers|safetensors|numpy|pillow|tensorboard|jinja2|regex|protobuf)==')
and pass it with --ref-python PATH or REF_PYTHON=PATH."""

def die(msg:str): print(msg, file=sys.stderr); sys.exit(2)

def child_env(threads:int) -> dict:
    "The environment of both trainers: same threads, offline, unbuffered."
    env = dict(os.environ)
    for k in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS', 'OPENBLAS_NUM_THREADS'): env[k] = str(threads)
    env.update(HF_HUB_OFFLINE='1', TOKENIZERS_PARALLELISM='false', PYTHONUNBUFFERED='1', CUDA_VISIBLE_DEVICES=env.get('CUDA_VISIBLE_DEVICES', ''))
    env.pop('PYTHONPATH', None)
    return env

def check_ref(ref_python:str, ref_script:Path, env:dict):
    "Check the reference venv imports what the script needs and that the script's `check_min_version` passes."
    if not ref_script.is_file(): die(GET_REF.format(path=ref_script))
    if not Path(ref_python).exists(): die(GET_VENV.format(python=ref_python, why='it does not exist', pip=Path(sys.executable).parent / 'pip'))
    src = ref_script.read_text()
    mv = next((l.split('"')[1] for l in src.splitlines() if l.startswith('check_min_version(')), None)
    code = ("import torch, torchvision, diffusers, transformers, accelerate, tensorboard, json; "
            "from diffusers.utils import check_min_version; " + (f"check_min_version({mv!r}); " if mv else '') +
            "print(json.dumps(dict(torch=torch.__version__, torchvision=torchvision.__version__, diffusers=diffusers.__version__, "
            "transformers=transformers.__version__, accelerate=accelerate.__version__)))")
    r = subprocess.run([ref_python, '-c', code], capture_output=True, text=True, env=env)
    if r.returncode: die(GET_VENV.format(python=ref_python, why=r.stderr.strip().splitlines()[-1] if r.stderr.strip() else f'exit {r.returncode}',
                                         pip=Path(sys.executable).parent / 'pip'))
    return json.loads(r.stdout.strip().splitlines()[-1]), mv

def check_ours(our_python:str, env:dict):
    "Check that our trainer's CLI exists."
    r = subprocess.run([our_python, '-m', 'dreambooth_nb.cli', 'train', '--help'], capture_output=True, text=True, env=env, cwd=REPO)
    if r.returncode or '--instance_data_dir' not in r.stdout:
        die(f"Our trainer is not available (`{our_python} -m dreambooth_nb.cli train --help` failed):\n{(r.stderr or r.stdout)[-2000:]}\n"
            "It comes from nbs/06_train.ipynb → dreambooth_nb/train.py (run nbdev_export in the repository root).")

def model_resolution(model:Path) -> int:
    "The native image side of a diffusers SD folder: UNet sample size × the VAE's downsampling factor."
    unet = json.loads((model / 'unet' / 'config.json').read_text())
    vae = json.loads((model / 'vae' / 'config.json').read_text())
    return unet['sample_size'] * 2 ** (len(vae['block_out_channels']) - 1)

def write_images(root:Path, n_instance:int, n_class:int, class_shape:str) -> tuple[Path, Path]:
    "Instance images of the ShapesWorld demo subject and class images of its shape, drawn once, PNG only."
    from dreambooth_nb.shapes_world import subject_images, random_attrs, draw
    inst, cls = root / 'instance', root / 'class'
    for d in (inst, cls): d.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(subject_images(n_instance, seed=0)): im.save(inst / f'{i:02d}.png')
    rng = random.Random(0)   # class images: the plain class, as the base model would draw it (no pattern)
    for i in range(n_class): draw(random_attrs(rng, shape=class_shape)).save(cls / f'{i:03d}.png')
    return inst, cls

def common_flags(a, model:Path, inst:Path, cls:Path, steps:int, out:Path) -> list[str]:
    "The flags both trainers get, with the same names and values."
    return ['--pretrained_model_name_or_path', str(model), '--instance_data_dir', str(inst),
            '--instance_prompt', a.instance_prompt, '--with_prior_preservation', '--class_data_dir', str(cls),
            '--class_prompt', a.class_prompt, '--num_class_images', str(a.num_class_images), '--prior_loss_weight', '1.0',
            '--resolution', str(a.resolution), '--train_batch_size', '1', '--learning_rate', str(a.lr),
            '--lr_scheduler', 'constant', '--lr_warmup_steps', '0', '--max_train_steps', str(steps), '--seed', '0',
            '--mixed_precision', 'no', '--checkpointing_steps', str(10**9), '--report_to', a.report_to,
            '--dataloader_num_workers', '0', '--output_dir', str(out)] + (['--pre_compute_text_embeddings'] if a.pre_compute_text_embeddings else [])

STEP_TIMER = r"""
# Written by tests/bench/train_vs_diffusers.py: run a trainer with a timestamp logged at every tqdm update.
import json, os, runpy, sys, time
from tqdm import std
_log = open(os.environ['BENCH_STEP_LOG'], 'w'); _update = std.tqdm.update
def _timed_update(self, n=1):
    r = _update(self, n)
    _log.write(json.dumps([id(self), str(getattr(self, 'desc', '')), getattr(self, 'total', None), getattr(self, 'n', None), time.time()]) + '\n')
    _log.flush(); return r
std.tqdm.update = _timed_update
target, args = sys.argv[1], sys.argv[2:]
if target == '-m':
    sys.argv = [args[0]] + args[1:]; runpy.run_module(args[0], run_name='__main__', alter_sys=True)
else:
    sys.argv = [target] + args; sys.path[0] = os.path.dirname(os.path.abspath(target)); runpy.run_path(target, run_name='__main__')
"""

def step_times(log:Path, steps:int) -> list[float]:
    "Timestamps of steps 1..`steps` of the training progress bar (the bar with total == steps and the most updates)."
    bars = {}
    for line in log.read_text().splitlines():
        bid, desc, total, n, t = json.loads(line)
        if total == steps: bars.setdefault(bid, []).append((n, t))
    if not bars: return []
    recs = max(bars.values(), key=len)
    return [t for n, t in recs]

def run_one(cmd:list[str], env:dict, log:Path, cwd:Path, steps:int) -> dict:
    "Run `cmd` under the step timer: wall time (s), exit code, peak RSS (MiB, from the kernel via `wait4`), step timestamps."
    timer, slog = log.parent / '_step_timer.py', log.with_suffix('.steps.jsonl')
    if not timer.exists(): timer.write_text(STEP_TIMER)
    with open(log, 'w') as f:
        t = time.time()
        p = subprocess.Popen([cmd[0], str(timer)] + cmd[1:], stdout=f, stderr=subprocess.STDOUT, env={**env, 'BENCH_STEP_LOG': str(slog)}, cwd=cwd)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.time() - t
    ts = step_times(slog, steps) if slog.exists() else []
    iv = [b - a for a, b in zip(ts, ts[1:])][2:]   # intervals between steps, the first two (lazy initialisation) dropped
    return dict(wall=wall, cpu=ru.ru_utime + ru.ru_stime, rc=os.waitstatus_to_exitcode(status), rss_mib=ru.ru_maxrss / 1024, intervals=iv,
                first_step=(ts[0] - t) if ts else None, n_logged=len(ts))

BASELINE_IMPORTS = ("import torch, diffusers, transformers, accelerate; "
                    "from diffusers import StableDiffusionPipeline, UNet2DConditionModel, AutoencoderKL, DDPMScheduler; "
                    "from transformers import CLIPTextModel, CLIPTokenizer")

def import_rss(python:str, env:dict) -> float:
    "Peak RSS (MiB) of `python` importing torch/diffusers/transformers/accelerate: what the venv costs before any training."
    p = subprocess.Popen([python, '-c', BASELINE_IMPORTS], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, ru = os.wait4(p.pid, 0)
    return ru.ru_maxrss / 1024 if os.waitstatus_to_exitcode(status) == 0 else float('nan')

FLOOR = """
import sys, time, torch
from diffusers import UNet2DConditionModel
unet = UNet2DConditionModel.from_pretrained(sys.argv[1], subfolder='unet').train()
n, side = int(sys.argv[2]), unet.config.sample_size
x, t = torch.randn(n, unet.config.in_channels, side, side), torch.randint(0, 1000, (n,))
emb = torch.randn(n, 77, unet.config.cross_attention_dim)
opt = torch.optim.AdamW(unet.parameters(), lr=5e-6, fused=True)
times = []
for i in range(45):
    t0 = time.perf_counter()
    torch.nn.functional.mse_loss(unet(x, t, emb).sample, x).backward(); opt.step(); opt.zero_grad()
    times.append(time.perf_counter() - t0)
print(sorted(times[5:])[len(times[5:]) // 2])
"""

def unet_floor(python:str, env:dict, model:Path, n:int) -> float|None:
    "Median seconds of a bare UNet forward + backward + fused AdamW step on `n` latents: the part of a DreamBooth step that no cache removes."
    r = subprocess.run([python, '-c', FLOOR, str(model), str(n)], env=env, capture_output=True, text=True)
    try: return float(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError): return None

def fmt(x, spec='.3f'): return '—' if x is None else format(x, spec)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', default=str(DEFAULT_MODEL), help='a diffusers SD folder (default: the ShapesWorld model)')
    p.add_argument('--ref-script', default=os.environ.get('DIFFUSERS_TRAIN_DREAMBOOTH', '/tmp/ref/train_dreambooth.py'),
                   help="diffusers' train_dreambooth.py (env DIFFUSERS_TRAIN_DREAMBOOTH)")
    p.add_argument('--ref-python', default=os.environ.get('REF_PYTHON', DEFAULT_REF_PYTHON), help='python of the reference venv (env REF_PYTHON)')
    p.add_argument('--our-python', default=sys.executable, help='python of the project venv')
    p.add_argument('--steps', default='10,30', help='the short and long step counts, e.g. 10,30')
    p.add_argument('--rounds', type=int, default=2, help='how many alternating rounds (each: ref short, ours short, ref long, ours long)')
    p.add_argument('--resolution', type=int, default=None, help="image side (default: the model's native resolution)")
    p.add_argument('--lr', type=float, default=5e-6)
    p.add_argument('--num-class-images', type=int, default=10)
    p.add_argument('--instance-prompt', default='a photo of sks heart')
    p.add_argument('--class-prompt', default='a photo of a heart')
    p.add_argument('--report-to', default='tensorboard', help="tracker for both (the reference's default is tensorboard)")
    p.add_argument('--pre-compute-text-embeddings', action='store_true',
                   help="pass --pre_compute_text_embeddings to both (the reference's best case; ours always does it)")
    p.add_argument('--threads', type=int, default=int(os.environ.get('OMP_NUM_THREADS', '1')), help='OMP threads of both trainers')
    p.add_argument('--workdir', default=None, help='where images, outputs and logs go (default: a temp folder, removed unless --keep)')
    p.add_argument('--warmup-runs', type=int, default=1, help='untimed 1-step runs of each trainer first (file and import caches)')
    p.add_argument('--keep', action='store_true', help='keep the work folder (logs of every run)')
    a = p.parse_args(argv)

    short, long_ = sorted(map(int, a.steps.split(',')))
    if short < 1 or long_ <= short: die(f'--steps needs two different positive step counts, got {a.steps!r}')
    model = Path(a.model).expanduser().resolve()
    if not (model / 'model_index.json').exists():
        die(f"No diffusers model folder at {model} (model_index.json missing). The ShapesWorld model appears at {DEFAULT_MODEL} "
            "once pretrained; meanwhile make a stand-in with\n    python -c \"from dreambooth_nb.models import tiny_components; "
            "tiny_components().save('/tmp/tiny_sd')\"\nand pass --model /tmp/tiny_sd.")
    a.resolution = a.resolution or model_resolution(model)
    env = child_env(a.threads)
    versions, min_version = check_ref(a.ref_python, Path(a.ref_script).expanduser(), env)
    check_ours(a.our_python, env)

    root = Path(a.workdir).expanduser() if a.workdir else Path(tempfile.mkdtemp(prefix='bench-train-'))
    root.mkdir(parents=True, exist_ok=True)
    inst, cls = write_images(root / 'data', 5, a.num_class_images, a.class_prompt.split()[-1])
    trainers = {'diffusers': [a.ref_python, str(Path(a.ref_script).expanduser().resolve())],
                'dreambooth_nb': [a.our_python, '-m', 'dreambooth_nb.cli', 'train']}
    print(f"model={model} resolution={a.resolution} steps={short},{long_} rounds={a.rounds} threads={a.threads} lr={a.lr} "
          f"class_images={a.num_class_images} report_to={a.report_to} pre_compute_text_embeddings={a.pre_compute_text_embeddings}")
    print(f"reference venv: {versions} (script needs diffusers ≥ {min_version}); work folder: {root}", flush=True)

    runs, floors = {k: {short: [], long_: []} for k in trainers}, []
    def run(name, steps, tag):
        out = root / f'out-{name}-{steps}-{tag}'; log = root / f'log-{name}-{steps}-{tag}.txt'
        shutil.rmtree(out, ignore_errors=True)
        flags = common_flags(a, model, inst, cls, steps, out)
        res = run_one(trainers[name] + flags, env, log, root, steps)
        step = statistics.median(res['intervals']) if res['intervals'] else None
        print(f"  {tag:>8} {name:>13} {steps:>4} steps: wall {res['wall']:6.1f}s  first step at {fmt(res['first_step'], '5.1f')}s  "
              f"median step {fmt(step)}s  CPU {res['cpu']:6.1f}s  peak RSS {res['rss_mib']:6.0f} MiB" + ('' if res['rc'] == 0 else f"  FAILED (exit {res['rc']})"), flush=True)
        if res['rc']:
            print(''.join(log.read_text().splitlines(True)[-30:]), file=sys.stderr)
            die(f"{name} failed (log: {log}); the flags it got:\n  {' '.join(flags)}")
        if res['n_logged'] != steps: print(f"    warning: {res['n_logged']} of {steps} steps seen in the progress bar of {name} (log: {log})")
        shutil.rmtree(out, ignore_errors=True)
        return res
    try:
        for w in range(a.warmup_runs):   # fill the file cache and import caches; not counted
            for name in trainers: run(name, 1, f'warmup{w+1}')
        for r in range(a.rounds):
            for steps in (short, long_):
                for name in trainers: runs[name][steps].append(run(name, steps, f'round{r+1}'))   # alternate: ref, ours, ref, ours
            floors.append(unet_floor(a.our_python, env, model, 2))   # batch 1 instance + 1 class latent, in each round too
    finally:
        if not a.keep and not a.workdir: shutil.rmtree(root, ignore_errors=True)

    stats = {}
    for name, by in runs.items():
        allr = [res for v in by.values() for res in v]
        meds = [statistics.median(res['intervals']) for res in allr if res['intervals']]
        best = min(meds) if meds else None
        disturbed = sum(m > 2 * best for m in meds) if meds else 0
        diff = [(by[long_][i]['wall'] - by[short][i]['wall']) / (long_ - short) for i in range(a.rounds)]
        cdiff = [(by[long_][i]['cpu'] - by[short][i]['cpu']) / (long_ - short) for i in range(a.rounds)]
        stats[name] = dict(median=statistics.median(meds) if meds else None, disturbed=disturbed, n=len(meds),
                           diff=statistics.median(diff), cpu=statistics.median(cdiff),
                           first=statistics.median(res['first_step'] for res in allr if res['first_step'] is not None),
                           wall=statistics.median(res['wall'] for res in by[long_]), rss=max(res['rss_mib'] for res in allr))
    for name in trainers: stats[name]['base'] = import_rss(trainers[name][0], env)
    ref, ours = stats['diffusers'], stats['dreambooth_nb']
    print(f"\nwall s/step: median over runs of each run's median interval between training steps (steps 1-2 dropped);"
          f"\nCPU s/step: (CPU time({long_} steps) - CPU time({short} steps)) / {long_ - short}, median over rounds: user+sys of the trainer"
          f"\n  process, start-up cancelled; the fairest figure on a shared CPU machine (waiting for a core costs no CPU time);"
          f"\nwall-diff s/step: the same difference of wall times (noisy on a shared machine);"
          f"\nfirst step: seconds from launch to the first finished step (imports, loading, caching); peak RSS: max over runs;"
          f"\nimport RSS: the same python only importing torch/diffusers/transformers (the venvs differ: diffusers also loads peft/gguf where installed).")
    print(f"{'trainer':<15}{'wall s/step':>12}{'CPU s/step':>11}{'wall-diff':>10}{'first step s':>13}{f'wall {long_} st s':>13}{'peak RSS MiB':>13}{'import RSS':>11}{'peak-import':>12}")
    for name, s in stats.items():
        print(f"{name:<15}{fmt(s['median'], '12.4f')}{s['cpu']:>11.4f}{s['diff']:>10.4f}{s['first']:>13.1f}{s['wall']:>13.1f}{s['rss']:>13.0f}{s['base']:>11.0f}{s['rss'] - s['base']:>12.0f}")
    ok = all(s['median'] and s['median'] > 0 for s in stats.values())
    ratio = ref['median'] / ours['median'] if ok else None
    cratio = ref['cpu'] / ours['cpu'] if ref['cpu'] > 0 and ours['cpu'] > 0 else None
    dratio = ref['diff'] / ours['diff'] if ref['diff'] > 0 and ours['diff'] > 0 else None
    verdict = lambda r: 'undetermined' if r is None else 'MET' if r >= 1.5 else 'NOT MET'
    print(f"\nper-step speed-up (diffusers ÷ dreambooth_nb), target >= 1.5x:"
          f"\n  by wall time per step: {fmt(ratio, '.2f')}x  {verdict(ratio)}"
          f"\n  by CPU time per step:  {fmt(cratio, '.2f')}x  {verdict(cratio)}"
          f"\n  (by wall-time difference: {fmt(dratio, '.2f')}x)")
    floor = statistics.median([f for f in floors if f]) if any(floors) else None
    if floor and ok:
        print(f"  ceiling: the bare UNet forward + backward + AdamW step on the same 2 latents takes {floor:.4f}s (median of one "
              f"run per round: {', '.join(fmt(f, '.4f') for f in floors)}); even a trainer "
              f"with nothing else in its step would be {ref['median'] / floor:.2f}x faster than diffusers' by wall time "
              f"(ours spends {ours['median'] - floor:.4f}s per step beyond it)")
    print(f"peak RSS dreambooth_nb / diffusers: {ours['rss'] / ref['rss']:.2f}  ({ours['rss']:.0f} vs {ref['rss']:.0f} MiB); "
          f"above the import baseline: {ours['rss'] - ours['base']:.0f} vs {ref['rss'] - ref['base']:.0f} MiB")
    for name, s in stats.items():
        if s['disturbed']: print(f"warning: {s['disturbed']} of {s['n']} {name} runs had a median step > 2x its best run's: "
                                 "the machine was busy; prefer the CPU figure or run again.")
    return 0 if ok else 1

if __name__ == '__main__': sys.exit(main())
