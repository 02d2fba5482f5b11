"""Per-step training time with and without the latent/text-embedding cache (same flags otherwise), alternating runs.
Usage: python tests/bench/train_cache_speed.py [model] [steps]   (model: 'shapes-world' when installed, else a tiny model).
Prints one line per run and the median step-time ratio (uncached / cached)."""
import sys, tempfile, statistics, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
from dreambooth_nb.config import DreamBoothConfig
from dreambooth_nb.train import train
from dreambooth_nb.data import write_toy_images
from dreambooth_nb.models import tiny_components

def main(model=None, steps=20, repeats=2):
    tmp = Path(tempfile.mkdtemp())
    if model is None:
        model = str(tmp / 'base'); tiny_components(sample_size=32).save(model)
    write_toy_images(tmp / 'inst', n=5, colour='crimson', size=64, seed=1)
    write_toy_images(tmp / 'cls', n=8, colour='steelblue', size=64, seed=2)
    times = {True: [], False: []}
    for r in range(repeats):
        for cache in (True, False):
            cfg = DreamBoothConfig(pretrained_model_name_or_path=model, instance_data_dir=str(tmp / 'inst'),
                instance_prompt='a photo of sks disc', class_data_dir=str(tmp / 'cls'), class_prompt='a photo of a disc',
                with_prior_preservation=True, num_class_images=8, output_dir=str(tmp / f'run{r}{cache}'), seed=0,
                train_batch_size=2, max_train_steps=steps, checkpointing_steps=10**6, report_to='none',
                cache_latents=cache, pre_compute_text_embeddings=cache, lr_warmup_steps=0)
            res = train(cfg, stop_after=steps)   # no final export: time the loop only
            times[cache].append(res['seconds'] / steps)
            print(f"run {r} cache={cache}: {res['seconds'] / steps * 1000:.1f} ms/step")
    c, u = statistics.median(times[True]), statistics.median(times[False])
    print(f"median ms/step: cached {c * 1000:.1f}, uncached {u * 1000:.1f}; speed-up {u / c:.2f}x")

if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else None, int(sys.argv[2]) if len(sys.argv) > 2 else 20)
