"Training: exact resume under harder settings, text-encoder and LoRA runs, class-image generation, CLI errors."
import dataclasses, io, contextlib, sys, types, warnings
from pathlib import Path
import pytest, torch
from dreambooth_nb.models import tiny_components, load_components
from dreambooth_nb.data import write_toy_images, DataError
from dreambooth_nb.config import DreamBoothConfig, ConfigError
from dreambooth_nb.train import train, train_main
from dreambooth_nb.core import save_images, image_files


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp('world')
    write_toy_images(d / 'instance', n=4, colour='crimson', seed=1)
    write_toy_images(d / 'class', n=3, colour='steelblue', seed=2)
    tiny_components().save(d / 'base')
    return d


def _cfg(world, out, **kw):
    base = dict(pretrained_model_name_or_path=str(world / 'base'), instance_data_dir=str(world / 'instance'),
                instance_prompt='a photo of sks disc', class_data_dir=str(world / 'class'), class_prompt='a photo of a disc',
                with_prior_preservation=True, num_class_images=3, output_dir=str(out), seed=3, train_batch_size=2,
                max_train_steps=6, checkpointing_steps=3, learning_rate=1e-3, lr_warmup_steps=0, report_to='none')
    base.update(kw)
    return DreamBoothConfig(**base)


def _weights(folder, sub='unet'):
    from diffusers import UNet2DConditionModel
    return UNet2DConditionModel.from_pretrained(folder, subfolder=sub).state_dict()


def test_exact_resume_hard_settings(world, tmp_path):
    "Accumulation, flips, random crops, offset noise, min-SNR, warmup+linear schedule: resume is still exact."
    kw = dict(gradient_accumulation_steps=2, random_flip=True, offset_noise=True, snr_gamma=5.0, lr_scheduler='linear',
              lr_warmup_steps=2, train_batch_size=1)
    full = train(_cfg(world, tmp_path / 'full', **kw))
    part = train(_cfg(world, tmp_path / 'res', **kw), stop_after=3)
    assert part['losses'] == full['losses'][:3]
    rest = train(_cfg(world, tmp_path / 'res', resume_from_checkpoint='latest', **kw))
    assert rest['losses'] == full['losses']
    a, b = _weights(tmp_path / 'full'), _weights(tmp_path / 'res')
    assert all(torch.equal(a[k], b[k]) for k in a)
    # the curve differs from a run with another seed (the test would catch a resume that ignored the state)
    other = train(_cfg(world, tmp_path / 'other', seed=4, **kw), stop_after=1)
    assert other['losses'][0] != full['losses'][0]


def test_captions_and_bare_prompt_resume_exactly(world, tmp_path):
    "Per-image captions with --bare_prompt_prob draw from the training generator: resume stays exact; a caption changes the run."
    inst = tmp_path / 'captioned'; files = write_toy_images(inst, n=4, colour='crimson', seed=1)
    for f, bg in zip(files, ('white', 'gray', 'blue', 'black')): f.with_suffix('.txt').write_text(f'a photo of sks disc on a {bg} background')
    kw = dict(instance_data_dir=str(inst), bare_prompt_prob=0.5, train_text_encoder=True)
    full = train(_cfg(world, tmp_path / 'full', **kw))
    train(_cfg(world, tmp_path / 'res', **kw), stop_after=3)
    rest = train(_cfg(world, tmp_path / 'res', resume_from_checkpoint='latest', **kw))
    assert rest['losses'] == full['losses']
    plain = train(_cfg(world, tmp_path / 'plain'), stop_after=2)
    assert plain['losses'][:2] != full['losses'][:2]
    with pytest.raises(ConfigError, match='bare_prompt_prob'):
        train(_cfg(world, tmp_path / 'bad', bare_prompt_prob=1.5))


def test_distilled_prior_and_low_noise_dropout_resume_exactly(world, tmp_path):
    "--distill_prior (the frozen base UNet's prediction is the class target) with low-noise caption dropout: resume stays exact."
    kw = dict(distill_prior=True, caption_dropout_prob=0.5, caption_dropout_max_timestep=500)
    full = train(_cfg(world, tmp_path / 'full', **kw))
    train(_cfg(world, tmp_path / 'res', **kw), stop_after=3)
    rest = train(_cfg(world, tmp_path / 'res', resume_from_checkpoint='latest', **kw))   # the frozen copy is the base again, not step 3's
    assert rest['losses'] == full['losses']
    a, b = _weights(tmp_path / 'full'), _weights(tmp_path / 'res')
    assert all(torch.equal(a[k], b[k]) for k in a)
    noise_target = train(_cfg(world, tmp_path / 'noise', **{**kw, 'distill_prior': False}), stop_after=2)
    assert noise_target['losses'][:2] != full['losses'][:2]
    everywhere = train(_cfg(world, tmp_path / 'all-t', **{**kw, 'caption_dropout_max_timestep': None}), stop_after=6)
    assert everywhere['losses'] != full['losses']


def test_distilled_prior_with_trained_text_encoder_keeps_base_prompts(world, tmp_path):
    "--distill_prior --train_text_encoder: the class target is conditioned on the base encoder's embeddings; resume stays exact."
    kw = dict(distill_prior=True, train_text_encoder=True)
    full = train(_cfg(world, tmp_path / 'full', **kw))
    train(_cfg(world, tmp_path / 'res', **kw), stop_after=3)
    rest = train(_cfg(world, tmp_path / 'res', resume_from_checkpoint='latest', **kw))   # the base embeddings are the base's again
    assert rest['losses'] == full['losses']
    assert full['losses'] != train(_cfg(world, tmp_path / 'te', train_text_encoder=True))['losses']


def test_text_encoder_lr(world, tmp_path):
    "--text_encoder_lr gives the text encoder its own learning rate (a second AdamW group); it needs --train_text_encoder."
    from dreambooth_nb.train import make_optimizer
    c = tiny_components(); params = list(c.unet.parameters()) + list(c.text_encoder.parameters())
    opt = make_optimizer(params, _cfg(world, tmp_path, train_text_encoder=True, text_encoder_lr=1e-3), 1e-4, c.text_encoder.parameters())
    assert [g['lr'] for g in opt.param_groups] == [1e-4, 1e-3]
    assert len(opt.param_groups[1]['params']) == len(list(c.text_encoder.parameters()))
    assert len(make_optimizer(params, _cfg(world, tmp_path), 1e-4, c.text_encoder.parameters()).param_groups) == 1
    r = train(_cfg(world, tmp_path / 'te', train_text_encoder=True, text_encoder_lr=1e-2, max_train_steps=2))
    assert r['global_step'] == 2
    with pytest.raises(ConfigError, match='text_encoder_lr'):
        train(_cfg(world, tmp_path / 'bad', text_encoder_lr=1e-3))


def test_train_identifier_embedding(world, tmp_path):
    "--train_identifier_embedding moves only the identifier's row of the text encoder: every other word keeps its meaning."
    from transformers import CLIPTextModel
    r = train(_cfg(world, tmp_path / 'ident', train_identifier_embedding=True, text_encoder_lr=1e-2, max_train_steps=3))
    before, after = tiny_components().text_encoder.state_dict(), CLIPTextModel.from_pretrained(r['model_dir'] / 'text_encoder').state_dict()
    tok = tiny_components().tokenizer; sks = tok('sks', add_special_tokens=False).input_ids
    key = next(k for k in before if k.endswith('token_embedding.weight'))
    changed = (before[key] != after[key]).any(1).nonzero().flatten().tolist()
    assert changed == sorted(sks), (changed, sks)   # the tiny tokenizer spells 'sks' in three tokens
    assert all(torch.equal(before[k], after[k]) for k in before if k != key)
    with pytest.raises(ConfigError, match='choose one'):
        train(_cfg(world, tmp_path / 'bad', train_identifier_embedding=True, train_text_encoder=True))


def test_cap_identifier_norm(world, tmp_path):
    "--cap_identifier_norm keeps every identifier row no longer than the instance prompt's other words; without it they grow past."
    from transformers import CLIPTextModel
    from dreambooth_nb.train import identifier_ids, identifier_max_norm
    c = tiny_components(); cpt = [dict(instance_prompt='a photo of sks disc', class_prompt='a photo of a disc')]
    ids, cap = identifier_ids(c.tokenizer, cpt), identifier_max_norm(c, cpt)
    def norms(**kw):
        r = train(_cfg(world, tmp_path / str(len(kw)), train_identifier_embedding=True, text_encoder_lr=0.3, max_train_steps=4, **kw))
        return CLIPTextModel.from_pretrained(r['model_dir'] / 'text_encoder').get_input_embeddings().weight[ids].norm(dim=-1)
    assert (norms(cap_identifier_norm=True) <= cap + 1e-5).all()
    assert (norms() > cap).any()
    kw = dict(train_identifier_embedding=True, text_encoder_lr=0.3, cap_identifier_norm=True)   # and a resumed run is the same run
    full = train(_cfg(world, tmp_path / 'full', **kw))
    train(_cfg(world, tmp_path / 'res', **kw), stop_after=3)
    assert train(_cfg(world, tmp_path / 'res', resume_from_checkpoint='latest', **kw))['losses'] == full['losses']


def test_resume_refuses_other_config_and_missing_checkpoint(world, tmp_path):
    train(_cfg(world, tmp_path / 'r'), stop_after=3)
    with pytest.raises(ConfigError, match='train_batch_size'):
        train(_cfg(world, tmp_path / 'r', resume_from_checkpoint='latest', train_batch_size=1))
    with pytest.raises(FileNotFoundError, match='checkpoint-3'):
        train(_cfg(world, tmp_path / 'r', resume_from_checkpoint='checkpoint-5'))


def test_train_text_encoder_and_uncached(world, tmp_path):
    res = train(_cfg(world, tmp_path / 'te', train_text_encoder=True, cache_latents=False, max_train_steps=3))
    assert (tmp_path / 'te' / 'checkpoint-3' / 'text_encoder' / 'config.json').exists()
    c0, c1 = tiny_components(), load_components(tmp_path / 'te', device='cpu')
    assert any(not torch.equal(a, b) for a, b in zip(c0.text_encoder.state_dict().values(), c1.text_encoder.state_dict().values()))
    assert all(torch.equal(a, b) for a, b in zip(c0.vae.state_dict().values(), c1.vae.state_dict().values()))
    assert len(res['losses']) == 3


def test_lora(world, tmp_path):
    res = train(_cfg(world, tmp_path / 'lora', use_lora=True, lora_rank=2, max_train_steps=3))
    assert res['trainable_params'] < sum(p.numel() for p in tiny_components().unet.parameters()) / 10
    assert (tmp_path / 'lora' / 'pytorch_lora_weights.safetensors').exists()
    from diffusers import StableDiffusionPipeline
    pipe = StableDiffusionPipeline.from_pretrained(tmp_path / 'lora', safety_checker=None)   # merged, loads plainly
    assert any(not torch.equal(a, b) for a, b in zip(pipe.unet.state_dict().values(), tiny_components().unet.state_dict().values()))


def test_missing_class_images_are_generated(world, tmp_path, monkeypatch):
    "Too few class images: the prior generator is called with the class prompt and folder, then training uses them."
    calls = []
    def fake_generate(components, class_prompt, out_dir, num_images, seed=0, batch_size=4, **kw):
        calls.append((class_prompt, Path(out_dir), num_images))
        have = len(image_files(out_dir))
        from PIL import Image
        save_images([Image.new('RGB', (16, 16), 'gray')] * (num_images - have), out_dir, prefix='gen', start=have)
    mod = types.ModuleType('dreambooth_nb.prior'); mod.generate_class_images = fake_generate
    monkeypatch.setitem(sys.modules, 'dreambooth_nb.prior', mod)
    cls = tmp_path / 'cls'; write_toy_images(cls, n=1, seed=5)
    res = train(_cfg(world, tmp_path / 'g', class_data_dir=str(cls), num_class_images=4, max_train_steps=2))
    assert calls == [('a photo of a disc', cls, 4)]
    assert len(image_files(cls)) == 4 and len(res['losses']) == 2


def test_bad_input_messages(world, tmp_path):
    bad = tmp_path / 'bad'; write_toy_images(bad, n=2)
    (bad / 'zz.png').write_bytes(b'garbage')
    with pytest.raises(DataError, match='zz.png'):
        train(_cfg(world, tmp_path / 'o', instance_data_dir=str(bad)))
    with pytest.warns(UserWarning, match='identifier'):
        train(_cfg(world, tmp_path / 'o2', instance_prompt='a photo of a disc', max_train_steps=1))
    try: import xformers  # noqa
    except ImportError:   # asked for and missing: said before anything is loaded or written
        with pytest.raises(ConfigError, match='pip install xformers'):
            train(_cfg(world, tmp_path / 'o3', enable_xformers_memory_efficient_attention=True, max_train_steps=1))
        assert not (tmp_path / 'o3').exists()
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = train_main(['--pretrained_model_name_or_path', str(world / 'base'), '--instance_data_dir', str(world / 'instance'),
                         '--instance_prompt', 'a photo of sks disc', '--use_8bit_adam', '--output_dir', str(tmp_path / 'o4'),
                         '--report_to', 'none', '--max_train_steps', '1'])
    try: import bitsandbytes  # noqa
    except ImportError: assert rc == 2 and 'bitsandbytes' in err.getvalue()


def test_cli_runs_with_reference_flags(world, tmp_path, capsys):
    rc = train_main(['--pretrained_model_name_or_path', str(world / 'base'), '--instance_data_dir', str(world / 'instance'),
                     '--instance_prompt', 'a photo of sks disc', '--with_prior_preservation', '--class_data_dir', str(world / 'class'),
                     '--class_prompt', 'a photo of a disc', '--num_class_images', '3', '--output_dir', str(tmp_path / 'cli'),
                     '--resolution', '16', '--train_batch_size', '1', '--learning_rate', '5e-6', '--lr_scheduler', 'constant',
                     '--lr_warmup_steps', '0', '--max_train_steps', '2', '--checkpointing_steps', '1',
                     '--checkpoints_total_limit', '1', '--seed', '0', '--report_to', 'tensorboard', '--center_crop',
                     '--validation_prompt', 'a photo of sks disc', '--num_validation_images', '2', '--validation_steps', '2'])
    assert rc == 0
    out = tmp_path / 'cli'
    assert sorted(p.name for p in out.glob('checkpoint-*')) == ['checkpoint-2']
    assert (out / 'model_index.json').exists() and (out / 'cli.safetensors').exists()
    events = list((out / 'logs').rglob('events.out.tfevents*'))
    assert events
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    ea = EventAccumulator(str(events[0].parent)); ea.Reload()
    assert 'loss' in ea.Tags()['scalars'] and len(ea.Scalars('loss')) == 2
    assert 'validation' in ea.Tags()['images'], ea.Tags()   # the validation images reach TensorBoard, as in diffusers' script
    assert len(list((out / 'samples' / 'validation-2').glob('sample*.png'))) == 2


def test_single_file_has_sd15_layout(tmp_path):
    "A model shaped like SD 1.5 (4 levels, 2 layers each, SD's block types) exports under SD 1.5's own key names, and diffusers' reader of original checkpoints gets every weight back."
    from diffusers import AutoencoderKL, UNet2DConditionModel, StableDiffusionPipeline
    from safetensors import safe_open
    from dreambooth_nb.export import export_single_file, load_single_file
    c = tiny_components(seed=5)
    c.unet = UNet2DConditionModel(sample_size=8, layers_per_block=2, block_out_channels=(32, 32, 64, 64), cross_attention_dim=32,
                                  down_block_types=('CrossAttnDownBlock2D',) * 3 + ('DownBlock2D',), attention_head_dim=8,
                                  up_block_types=('UpBlock2D',) + ('CrossAttnUpBlock2D',) * 3, norm_num_groups=16)
    c.vae = AutoencoderKL(block_out_channels=(16, 16, 32, 32), layers_per_block=2, down_block_types=('DownEncoderBlock2D',) * 4,
                          up_block_types=('UpDecoderBlock2D',) * 4, latent_channels=4, norm_num_groups=16, sample_size=64)
    c.save(tmp_path / 'folder')
    f = export_single_file(c, tmp_path / 'sd15.safetensors', dtype=torch.float32, layout='ldm')
    with safe_open(str(f), 'pt') as fh: keys = {k: fh.get_slice(k).get_shape() for k in fh.keys()}
    # names (and the VAE attention's 1x1-conv shape) as in the v1-5 checkpoint that AUTOMATIC1111 and ComfyUI load
    for k in ('model.diffusion_model.input_blocks.3.0.op.weight', 'model.diffusion_model.input_blocks.11.0.in_layers.0.weight',
              'model.diffusion_model.output_blocks.2.1.conv.weight', 'model.diffusion_model.output_blocks.5.2.conv.weight',
              'model.diffusion_model.output_blocks.11.1.transformer_blocks.0.attn2.to_k.weight', 'model.diffusion_model.out.2.weight',
              'first_stage_model.decoder.up.3.upsample.conv.weight', 'first_stage_model.encoder.down.0.downsample.conv.weight',
              'cond_stage_model.transformer.text_model.final_layer_norm.weight'):
        assert k in keys, k
    assert len(keys['first_stage_model.encoder.mid.attn_1.q.weight']) == 4
    pipe = StableDiffusionPipeline.from_single_file(str(f), config=str(tmp_path / 'folder'), local_files_only=True,
                                                    safety_checker=None, requires_safety_checker=False)
    c2 = load_single_file(f, c)
    for part in ('unet', 'vae', 'text_encoder'):
        sd = getattr(c, part).state_dict()
        for other in (pipe, c2):
            osd = getattr(other, part).state_dict()
            assert sorted(osd) == sorted(sd) and all(torch.equal(sd[k], osd[k]) for k in sd), part


def test_evaluate_during_training_resumes_and_exports_the_best(tmp_path, capsys):
    "--evaluate scores the base and every validation step; an interrupted run keeps its scores; the CLI names and exports the best."
    import json
    from dreambooth_nb.config import parse_config
    from dreambooth_nb.demo import write_instance_images
    write_instance_images(tmp_path / 'inst'); out = tmp_path / 'out'
    argv = ['--instance_data_dir', str(tmp_path / 'inst'), '--instance_prompt', 'a photo of sks heart', '--output_dir', str(out),
            '--max_train_steps', '4', '--checkpointing_steps', '2', '--validation_steps', '2', '--learning_rate', '1e-4',
            '--train_batch_size', '2', '--report_to', 'none', '--seed', '0', '--evaluate', '--evaluation_prompts', '2',
            '--evaluation_samples', '1', '--save_infer_steps', '4', '--export_best', '--checkpoints_total_limit', '1']
    train(parse_config(argv), stop_after=2)
    scores = lambda: json.loads((out / 'evaluation' / 'scores.json').read_text())
    assert [(r['name'], r['step']) for r in scores()['runs']] == [('base', 0), ('checkpoint-2', 2)]
    first = (out / 'evaluation' / 'step-0.png').stat().st_mtime_ns
    assert train_main(argv + ['--resume_from_checkpoint', 'latest']) == 0
    printed = capsys.readouterr().out; s = scores()
    assert [(r['name'], r['step']) for r in s['runs']] == [('base', 0), ('checkpoint-2', 2), ('checkpoint-4', 4)]
    assert (out / 'evaluation' / 'step-0.png').stat().st_mtime_ns == first        # the base was not scored again
    assert f"Best: {s['best']}" in printed and 'scores.md' in printed
    best_dir = out if s['best'] == 'checkpoint-4' else out / 'best'
    assert (best_dir / 'model_index.json').exists()
    if s['best'] == 'checkpoint-2': assert (out / 'checkpoint-2').exists()      # the limit of 1 did not prune the best


def test_evaluate_during_training_on_another_model(world, tmp_path, monkeypatch):
    "A model that is not ShapesWorld's is scored with DINO and CLIP: tiny random ones here, on the code path of the hub's."
    import json
    import dreambooth_nb.evaluate as E
    asked, tiny = [], E.dreambench_scorers(*E.tiny_dreambench_models(), device='cpu')
    monkeypatch.setattr(E, 'dreambench_scorers', lambda *a, **k: asked.append(1) or tiny)
    with pytest.raises(ConfigError, match='ShapesWorld models only'):
        train(_cfg(world, tmp_path / 'no', evaluate=True, evaluation_scorers='shapes'))
    assert not (tmp_path / 'no').exists()                                      # refused before anything was written
    res = train(_cfg(world, tmp_path / 'out', evaluate=True, validation_steps=3, evaluation_prompts=2, evaluation_samples=1, save_infer_steps=2))
    s = json.loads((tmp_path / 'out' / 'evaluation' / 'scores.json').read_text())
    assert asked == [1] and [r['step'] for r in s['runs']] == [0, 3, 6]
    assert s['runs'][0]['protocol']['embedders']['dino'] != 'shapes-evaluator' and res['evaluation']['best'] in ('checkpoint-3', 'checkpoint-6')
    assert [p['prompt'] for p in s['runs'][1]['per_prompt']][:1] == ['a sks disc in the jungle']
