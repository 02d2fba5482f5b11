"DreamBench evaluation: the prompt list, the metric arithmetic on tiny random DINO/CLIP models, checkpoints and the CLI (offline, seconds)."
import json, math
import pytest, torch
from PIL import Image
from dreambooth_nb.evaluate import (dreambench_file, dreambench_prompts, dreambench_scorers, shapes_scorers, score_samples,
                                    pair_similarity, apply_transform, clip_transform, choose_best, evaluate, evaluate_checkpoints,
                                    save_scores, Scorers, METRICS, PAPER, tiny_dreambench_models)
from dreambooth_nb.models import tiny_components, tiny_tokenizer, ModelLoadError
from dreambooth_nb.demo import write_instance_images
from dreambooth_nb.shapes_world import subject_images, parse_subject
from dreambooth_nb.cli import main as cli_main, COMMANDS


def tiny_hf_scorers():
    "DINO and CLIP with the real transformers classes, tiny and random: built from configs, nothing downloaded."
    vit, clip, tok = tiny_dreambench_models()
    return dreambench_scorers(vit, clip, tok, device='cpu'), clip, tok


@pytest.fixture(scope='module')
def hf(): return tiny_hf_scorers()

@pytest.fixture(scope='module')
def real(): return subject_images(4)


def test_prompt_file_is_the_papers():
    d = dreambench_file()
    assert d['source_commit'].startswith('e9b8c01') and 'CC BY 4.0' in d['credit'] and len(d['classes']) == 30
    obj, live = d['object_prompts'], d['live_subject_prompts']
    assert [len(v) for v in obj.values()] == [20, 5] and [len(v) for v in live.values()] == [10, 10, 5]
    assert obj['property'] == live['property'] == ['a red {0} {1}', 'a purple {0} {1}', 'a shiny {0} {1}', 'a wet {0} {1}', 'a cube shaped {0} {1}']
    assert obj['recontextualization'][:10] == live['recontextualization']
    assert all(t.startswith('a ') and '{0} {1}' in t for v in (*obj.values(), *live.values()) for t in v)
    assert sorted(d['live_subjects']) == ['cat', 'cat2', 'dog', 'dog2', 'dog3', 'dog5', 'dog6', 'dog7', 'dog8']
    assert dreambench_prompts('cat', 'zwx')[13]['prompt'] == 'a zwx cat wearing a black top hat and a monocle'
    assert dreambench_prompts('teapot')[12]['prompt'] == 'a sks teapot with the Eiffel Tower in the background'


def test_identical_images_score_one_and_pairing_matters(hf, real):
    sc = hf[0]
    s = score_samples({'a sks heart': real}, real, sc, kinds={})
    one = score_samples({'a sks heart': real}, real, sc, pairing='one-to-one')
    assert one['metrics']['dino'] == pytest.approx(1.0, abs=1e-5) and one['metrics']['clip_i'] == pytest.approx(1.0, abs=1e-5)
    assert s['metrics']['dino'] < 1 - 1e-4            # all pairs compares each sample with the other real images too
    same = score_samples({'p': [real[0]] * 3}, [real[0]] * 2, sc)
    assert same['metrics']['dino'] == pytest.approx(1.0, abs=1e-5) and same['metrics']['div_dino'] == pytest.approx(0.0, abs=1e-5)
    assert same['real_images']['dino'] == pytest.approx(1.0, abs=1e-5) and s['real_images']['clip_i'] < 1   # the 'real images' row
    assert s['protocol']['pairing'] == 'all' and one['protocol']['pairing'] == 'one-to-one'
    assert s['protocol']['transforms']['dino']['crop'] == 32 and s['protocol']['transforms']['dino']['mean'] == (0.485, 0.456, 0.406)


def test_clip_t_is_the_cosine_of_clips_own_forward(hf, real):
    "CLIP-T per image = CLIPModel's logits_per_image / logit scale: the prompt–image cosine, the identifier taken out first."
    sc, clip, tok = hf
    ids = tok(['a heart on a rug'], padding=True, return_tensors='pt')
    with torch.no_grad(): out = clip(input_ids=ids.input_ids, attention_mask=ids.attention_mask, pixel_values=apply_transform(real, clip_transform(32)))
    want = (out.logits_per_image[:, 0] / clip.logit_scale.exp()).tolist()
    assert sc.clip_text('a heart on a rug', real).tolist() == pytest.approx(want, abs=1e-5)
    seen = []
    spy = Scorers(sc.dino, sc.clip_image, lambda p, ims: seen.append(p) or sc.clip_text(p, ims), sc.info)
    r = score_samples({'a sks heart on a rug': real}, real, spy)
    assert seen == ['a heart on a rug'] and r['metrics']['clip_t'] == pytest.approx(sum(want) / len(want), abs=1e-5)


def test_ranges_and_shapes_stand_ins(real):
    sw = shapes_scorers()
    square = subject_images(3, subject=parse_subject('orange striped square'))
    r = score_samples({'a photo of sks heart on a gray background': subject_images(3, seed=1, backgrounds=('gray',)),
                       'a photo of a orange square': square}, real, sw, class_samples=square)
    m = r['metrics']
    assert set(m) == set(METRICS) and all(-1 <= m[k] <= 1 for k in ('dino', 'clip_i', 'pres')) and 0 <= m['clip_t'] <= 1
    assert 0 <= m['div_dino'] <= 2 and m['dino'] == m['clip_i']        # one embedder stands in for both
    rows = {x['prompt']: x for x in r['per_prompt']}
    assert rows['a photo of sks heart on a gray background']['clip_t'] == 1.0      # a prompt that matches by construction
    assert rows['a photo of a orange square']['clip_t'] == 1.0
    assert rows['a photo of sks heart on a gray background']['dino'] > rows['a photo of a orange square']['dino']
    like = score_samples({'p': square}, real, sw, class_samples=subject_images(3, seed=5))['metrics']['pres']
    assert like > m['pres']                                              # a class that turned into the subject: higher PRES
    assert r['protocol']['embedders'] == dict(dino='shapes-evaluator', clip_i='shapes-evaluator', clip_t='shapes-evaluator attribute accuracy')
    assert pair_similarity(torch.eye(3), torch.eye(3)) == pytest.approx(1 / 3)


def test_choose_best_rule():
    m = lambda name, d, t, p: dict(name=name, metrics=dict(dino=d, clip_t=t, pres=p))
    runs = [m('base', .5, .8, .4), m('checkpoint-1', .6, .8, .41), m('checkpoint-2', .9, .5, .41), m('checkpoint-3', .95, .8, .7)]
    assert choose_best(runs)[0] == 'checkpoint-1'                       # 2 ignores prompts, 3 drifted the class
    assert choose_best(runs[1:])[0] == 'checkpoint-3'                     # no base: no PRES reference, drift goes unseen
    assert choose_best([m('final', .5, float('nan'), None)])[0] == 'final'


def test_real_models_are_never_a_hidden_download(tmp_path, real):
    with pytest.raises(ModelLoadError, match='Colab'): dreambench_scorers('nobody/no-such-dino-model')
    with pytest.raises(ValueError, match='dreambench_scorers'): evaluate(tiny_components(), real, 'dog', progress=False)


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    "A tiny model trained two steps with a checkpoint after each, on 64-px drawings of the subject."
    from dreambooth_nb.config import DreamBoothConfig
    from dreambooth_nb.train import train
    d = tmp_path_factory.mktemp('eval')
    write_instance_images(d / 'instance', n=3); tiny_components().save(d / 'base')
    train(DreamBoothConfig(pretrained_model_name_or_path=str(d / 'base'), instance_data_dir=str(d / 'instance'),
                           instance_prompt='a photo of sks heart', output_dir=str(d / 'out'), seed=0, train_batch_size=2,
                           max_train_steps=2, checkpointing_steps=1, learning_rate=1e-3, lr_warmup_steps=0, report_to='none'))
    return d


def test_evaluate_checkpoints_scores_each_and_chooses(run):
    fast = dict(prompts=2, n_per_prompt=2, steps=2, scorers=shapes_scorers(), progress=False)
    res = evaluate_checkpoints(run / 'out', run / 'instance', 'heart', **fast)
    assert [(r['name'], r['step']) for r in res['runs']] == [('base', 0), ('checkpoint-1', 1), ('checkpoint-2', 2), ('final', 2)]
    assert res['best'] in ('checkpoint-1', 'checkpoint-2', 'final') and 'DINO' in res['why']
    assert [p['prompt'] for p in res['runs'][0]['per_prompt']] == ['a sks heart in the jungle', 'a red sks heart']   # same prompts for all
    assert all(r['protocol']['class_prompt'] == 'a heart' and r['protocol']['sampler']['seed'] == 0 for r in res['runs'])
    paths = save_scores(res, run / 'scores')
    saved = json.loads(paths['json'].read_text())                      # strict JSON: NaN written as null
    assert saved['best'] == res['best'] and len(saved['runs']) == 4 and paths['png'].stat().st_size > 1000
    assert 'real images (ours' in paths['md'].read_text() and '0.668' in paths['md'].read_text() and f"**{res['best']}**" in paths['md'].read_text()
    assert set(PAPER) and 'div_lpips' in PAPER['paper: Imagen DreamBooth, prior preservation']


def test_cli(run, tmp_path, capsys):
    assert 'evaluate' in COMMANDS
    fast = ['--instance-dir', str(run / 'instance'), '--class-noun', 'heart', '--scorers', 'shapes', '--prompts', '1',
            '--n_per_prompt', '1', '--steps', '2', '--no-progress']
    assert cli_main(['evaluate', '--model', str(run / 'out'), '--checkpoints', '--out', str(tmp_path / 'ck'), *fast]) == 0
    out = capsys.readouterr().out
    assert 'Best:' in out and json.loads((tmp_path / 'ck' / 'scores.json').read_text())['runs'][1]['name'] == 'checkpoint-1'
    assert (tmp_path / 'ck' / 'scores.md').exists() and (tmp_path / 'ck' / 'scores.png').exists()
    assert cli_main(['evaluate', '--model', str(run / 'base'), *fast]) == 0          # one model, default --out inside it
    assert (run / 'base' / 'evaluation' / 'scores.json').exists()
    bad = [(['--model', str(run / 'base'), '--instance-dir', str(tmp_path / 'none'), '--class-noun', 'heart'], 'does not exist'),
           (['--model', str(run / 'base'), '--instance_dir', str(run / 'instance'), '--class_noun', 'heart'], '--scorers dreambench'),
           (['--model', 'shapes-world', '--instance-dir', str(run / 'instance'), '--class-noun', 'dog'], "class noun 'dog'"),
           (['--model', str(tmp_path), '--checkpoints', '--instance-dir', str(run / 'instance'), '--class-noun', 'heart'], 'neither checkpoint'),
           (['--model', str(tmp_path / 'gone'), '--checkpoints', '--instance-dir', str(run / 'instance'), '--class-noun', 'heart'], 'No training output'),
           (['--model', str(tmp_path / 'gone'), '--instance-dir', str(run / 'instance'), '--class-noun', 'heart'], 'No model folder')]
    for args, msg in bad:
        assert cli_main(['evaluate', *args, '--out', str(tmp_path / 'bad'), '--no-progress']) == 2, args
        err = capsys.readouterr().err
        assert err.count('dreambooth_nb evaluate: error:') == 1 and msg in err.strip().splitlines()[-1], err
    assert not (tmp_path / 'bad').exists()
    ck = run / 'out' / 'checkpoint-1'   # a training folder without its final model: say to add --checkpoints
    import shutil; shutil.copytree(ck, tmp_path / 'partial' / 'checkpoint-1')
    assert cli_main(['evaluate', '--model', str(tmp_path / 'partial'), '--instance-dir', str(run / 'instance'), '--class-noun', 'heart']) == 2
    assert 'add --checkpoints' in capsys.readouterr().err
