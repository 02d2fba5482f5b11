"""Bad input on the command line: one line that names the flag or file, the right exit code, and no file of the user's changed.

One parametrised test per command. Each case builds its folders under `tmp_path`, runs the command's `*_main` in this
process, and compares a snapshot of every file under `tmp_path` (name and bytes) before and after.
(`prompts` has its own table in tests/test_prompts_cli.py.)
"""
import hashlib, json, shutil
from pathlib import Path
import pytest, torch
from PIL import Image
from dreambooth_nb.models import world_path
from dreambooth_nb.train import train_main
from dreambooth_nb.sampler import sample_main
from dreambooth_nb.prior import prior_main
from dreambooth_nb.demo import demo_main

def snapshot(root:Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob('*')) if p.is_file()}

def drawings(d:Path, n:int=3, size:int=64) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n): Image.new('RGB', (size, size), (40 * i, 90, 200)).save(d / f'{i}.png')
    return d

def finished_run(d:Path) -> Path:
    "An output folder as a finished run leaves it: its config and its final model's index."
    d.mkdir(parents=True); (d / 'config.json').write_text(json.dumps(dict(seed=1))); (d / 'model_index.json').write_text('{}')
    return d

def broken_tokenizer_model(d:Path) -> Path:
    shutil.copytree(world_path('shapes-world'), d)
    for f in (d / 'tokenizer').glob('*'):
        if f.name != 'tokenizer_config.json': f.unlink()
    (d / 'checksums.json').unlink(missing_ok=True)
    return d

def run(main, argv, capsys):
    "Exit code and stderr, less progress bars (tqdm lines such as transformers' 'Loading weights')."
    rc = main(argv); lines = capsys.readouterr().err.replace('\r', '\n').splitlines()
    return rc, '\n'.join(l for l in lines if l.strip() and not ('|' in l and ('it/s' in l or 's/it' in l)))

BASE = lambda t: ['--instance_data_dir', str(t / 'inst'), '--instance_prompt', 'a photo of sks star', '--output_dir', str(t / 'out'),
                  '--report_to', 'none', '--max_train_steps', '1']
PP = ['--with_prior_preservation', '--class_prompt', 'a photo of a star']

# (case id, folders to set up, extra flags, exit code, text the one line must hold)
TRAIN_CASES = [
    ('bare command', [], lambda t: [], 2, '--instance_data_dir'),
    ('no steps', ['inst'], lambda t: BASE(t) + ['--max_train_steps', '0'], 2, '--max_train_steps'),
    ('batch 0', ['inst'], lambda t: BASE(t) + ['--train_batch_size', '0'], 2, '--train_batch_size'),
    ('concepts list not JSON', ['inst', 'badjson'], lambda t: BASE(t) + ['--concepts_list', str(t / 'bad.json')], 2, 'bad.json'),
    ('prior without class folder', ['inst'], lambda t: BASE(t) + PP, 2, '--class_data_dir'),
    ('negative learning rate', ['inst'], lambda t: BASE(t) + ['--learning_rate', '-1'], 2, '--learning_rate'),
    ('nan learning rate', ['inst'], lambda t: BASE(t) + ['--learning_rate', 'nan'], 2, '--learning_rate'),
    ('negative resolution', ['inst'], lambda t: BASE(t) + ['--resolution', '-64'], 2, '--resolution'),
    ('resolution 0', ['inst'], lambda t: BASE(t) + ['--resolution', '0'], 2, '--resolution'),
    ('resolution not a multiple of the VAE factor', ['inst'], lambda t: BASE(t) + ['--resolution', '63'], 2, '--resolution'),
    ('output dir is a file', ['inst', 'outfile'], lambda t: BASE(t)[:-6] + ['--output_dir', str(t / 'out.txt'), '--report_to', 'none'], 2, '--output_dir'),
    ('output dir holds another run', ['inst', 'finished'], BASE, 2, '--output_dir'),
    ('overwrite, but the instance folder is empty', ['empty', 'finished'],
     lambda t: BASE(t)[:1] + [str(t / 'empty')] + BASE(t)[2:] + ['--overwrite_output_dir'], 2, str(Path('empty'))),
    ('instance folder = class folder', ['inst'], lambda t: BASE(t) + PP + ['--class_data_dir', str(t / 'inst')], 2, 'overlap'),
    ('class folder inside the instance folder', ['inst'], lambda t: BASE(t) + PP + ['--class_data_dir', str(t / 'inst' / 'cls')], 2, 'overlap'),
    ('a broken tokenizer', ['inst', 'broken'], lambda t: BASE(t) + ['--pretrained_model_name_or_path', str(t / 'broken')], 2, 'tokenizer'),
    ('a photo too big to open', ['inst', 'bomb'], BASE, 2, '0.png'),
    ('--export_best without --evaluate', ['inst'], lambda t: BASE(t) + ['--export_best'], 2, '--evaluate'),
    ('an evaluation class noun the world does not know', ['inst'], lambda t: BASE(t) + ['--evaluate', '--evaluation_class_noun', 'dog'], 2, 'dog'),
] + ([('fp16 without a GPU', ['inst'], lambda t: BASE(t) + ['--mixed_precision', 'fp16'], 2, '--mixed_precision')]
     if not torch.cuda.is_available() else [])

def setup(t:Path, parts:list, monkeypatch):
    if 'inst' in parts: drawings(t / 'inst')
    if 'empty' in parts: (t / 'empty').mkdir()
    if 'badjson' in parts: (t / 'bad.json').write_text('[{"instance_data_dir": ')
    if 'outfile' in parts: (t / 'out.txt').write_text('my notes')
    if 'finished' in parts: finished_run(t / 'out')
    if 'broken' in parts: broken_tokenizer_model(t / 'broken')
    if 'bomb' in parts: monkeypatch.setattr(Image, 'MAX_IMAGE_PIXELS', 1000)   # a 64×64 drawing now counts as a decompression bomb

@pytest.mark.parametrize('case,parts,flags,code,names', TRAIN_CASES, ids=[c[0] for c in TRAIN_CASES])
def test_train_bad_input(case, parts, flags, code, names, tmp_path, monkeypatch, capsys):
    t = tmp_path / 'user'; t.mkdir(); setup(t, parts, monkeypatch); before = snapshot(t)
    rc, err = run(train_main, flags(t), capsys)
    assert rc == code, (rc, err)
    assert names in err and '\n' not in err and 'Traceback' not in err, err
    assert snapshot(t) == before, 'a file of the user changed'
    assert not list(t.rglob('class-*.png')), 'class images were written'

SAMPLE_CASES = [
    ('no steps', ['--steps', '0'], 2, '--steps'),
    ('no images', ['--num-images', '0'], 2, '--num-images'),
    ('height not a multiple of the VAE factor', ['--height', '63'], 2, 'multiple'),
    ('unknown scheduler', ['--scheduler', 'magic'], 2, 'magic'),
    ('no such model folder', ['--model', './no/such/model'], 2, 'no/such/model'),
] + ([('cuda without a GPU', ['--device', 'cuda'], 2, 'cuda')] if not torch.cuda.is_available() else [])

@pytest.mark.parametrize('case,flags,code,names', SAMPLE_CASES, ids=[c[0] for c in SAMPLE_CASES])
def test_sample_bad_input(case, flags, code, names, tmp_path, capsys):
    argv = ['--model', 'shapes-world', '--prompt', 'a photo of a red star', '--out', str(tmp_path / 'out'), '--steps', '2', *flags]
    rc, err = run(sample_main, argv, capsys)
    assert rc == code and names in err and '\n' not in err, (rc, err)
    assert not (tmp_path / 'out').exists()

PRIOR_CASES = [
    ('no steps', ['--steps', '0'], 2, '--steps'),
    ('no images', ['--num-class-images', '0'], 2, '--num-class-images'),
    ('missing prompts file', ['--prompts-file', 'nope.txt'], 2, 'nope.txt'),
] + ([('cuda without a GPU', ['--device', 'cuda'], 2, 'cuda')] if not torch.cuda.is_available() else [])

@pytest.mark.parametrize('case,flags,code,names', PRIOR_CASES, ids=[c[0] for c in PRIOR_CASES])
def test_prior_bad_input(case, flags, code, names, tmp_path, capsys):
    argv = ['--model', 'shapes-world', '--class-prompt', 'a photo of a star', '--class-data-dir', str(tmp_path / 'cls'),
            '--num-class-images', '2', '--steps', '2', *flags]
    rc, err = run(prior_main, argv, capsys)
    assert rc == code and names in err and '\n' not in err, (rc, err)
    assert not list((tmp_path / 'cls').glob('*.png')) if (tmp_path / 'cls').exists() else True

DEMO_CASES = [
    ('empty class noun', lambda t: ['--instance-dir', str(drawings(t / 'mine')), '--class-noun', ''], 2, 'class noun'),
    ('class noun the world does not know', lambda t: ['--instance-dir', str(drawings(t / 'mine')), '--class-noun', 'dog'], 2, 'dog'),
    ('drawings of the wrong size', lambda t: ['--instance-dir', str(drawings(t / 'mine', size=48)), '--class-noun', 'star'], 2, '64'),
    ('a subject in words the world does not know', lambda t: ['--subject', 'plaid dodecahedron'], 2, 'dodecahedron'),
    ('a dropout that is not a probability', lambda t: ['--class-caption-dropout-prob', '1.5'], 2, '--class-caption-dropout-prob'),
    ('anchors taking more than every class slot', lambda t: ['--anchor-empty-prob', '0.8', '--anchor-class-prob', '0.5'], 2, 'together at most 1'),
]

@pytest.mark.parametrize('case,flags,code,names', DEMO_CASES, ids=[c[0] for c in DEMO_CASES])
def test_demo_bad_input(case, flags, code, names, tmp_path, capsys):
    t = tmp_path / 'user'; t.mkdir(); argv = flags(t) + ['--out', str(tmp_path / 'demo')]; before = snapshot(t)
    rc, err = run(demo_main, argv, capsys)
    assert rc == code and names.lower() in err.lower() and '\n' not in err, (rc, err)
    assert snapshot(t) == before and not (tmp_path / 'demo').exists()

def test_train_full_disk_is_one_line(tmp_path, monkeypatch, capsys):
    "A full disk while a checkpoint is written: one line, exit 1, and the advice to free space and resume."
    import errno, dreambooth_nb.train as tr
    def full(*a, **k): raise OSError(errno.ENOSPC, 'No space left on device', str(tmp_path / 'out' / 'checkpoint-1'))
    monkeypatch.setattr(tr, 'save_checkpoint', full)
    drawings(tmp_path / 'inst')
    rc, err = run(train_main, BASE(tmp_path) + ['--checkpointing_steps', '1', '--train_batch_size', '1'], capsys)
    assert rc == 1 and 'No space left on device' in err and '--resume_from_checkpoint latest' in err and '\n' not in err, err

def test_train_ctrl_c_says_how_to_resume(tmp_path, monkeypatch, capsys):
    "Ctrl-C after two checkpoints: exit 130, the newest checkpoint named, and a command that resumes from it."
    import dreambooth_nb.train as tr
    step, calls = tr.training_step, []
    def interrupt_third(*a, **k):
        calls.append(1)
        if len(calls) == 3: raise KeyboardInterrupt
        return step(*a, **k)
    monkeypatch.setattr(tr, 'training_step', interrupt_third)
    drawings(tmp_path / 'inst')
    argv = BASE(tmp_path)[:-1] + ['5', '--checkpointing_steps', '1', '--train_batch_size', '1']
    rc = train_main(argv); err = capsys.readouterr().err
    assert rc == 130 and 'checkpoint-2' in err and '--resume_from_checkpoint latest' in err, err
    monkeypatch.setattr(tr, 'training_step', step)
    resume = next(l for l in err.splitlines() if l.strip().startswith('dreambooth_nb train --')).split('dreambooth_nb train ', 1)[1]
    import shlex
    assert train_main(shlex.split(resume)) == 0            # the printed command resumes and finishes
    assert (tmp_path / 'out' / 'model_index.json').exists()

def test_no_flag_is_accepted_and_ignored():
    "Every `train` flag is read somewhere in the package (validate_config counts: it refuses or warns about the flags it cannot honour)."
    import re, dataclasses, dreambooth_nb
    from dreambooth_nb.config import DreamBoothConfig
    src = '\n'.join(p.read_text() for p in Path(dreambooth_nb.__file__).parent.glob('*.py') if p.name != '_modidx.py')
    launcher = {'local_rank'}   # set by torch.distributed launchers; accelerate reads the rank from the environment
    unread = [f.name for f in dataclasses.fields(DreamBoothConfig) if f.name not in launcher and not re.search(rf'cfg\.{f.name}\b', src)]
    assert not unread, f'accepted and ignored: {unread}'

def test_variant_reaches_the_loader(tmp_path, monkeypatch):
    "--variant fp16 is passed to from_pretrained (diffusers then reads diffusion_pytorch_model.fp16.safetensors)."
    import dreambooth_nb.models as m
    seen = {}
    def fake(src, **kw): seen.update(kw); raise RuntimeError('stop here')
    monkeypatch.setattr(m, '_load_parts', fake)
    with pytest.raises(m.ModelLoadError): m.load_components('someone/some-model', device='cpu', variant='fp16')
    assert seen['variant'] == 'fp16'
