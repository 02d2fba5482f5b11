"`dreambooth_nb demo` from the command line, end to end, on a tiny random model saved as a diffusers folder (seconds)."
import json
from dreambooth_nb.models import tiny_components
from dreambooth_nb.core import image_files
from dreambooth_nb.cli import main as cli_main

def test_demo_command_writes_grid_model_and_figures(tmp_path, capsys):
    tiny_components().save(tmp_path / 'base')
    out = tmp_path / 'demo'
    rc = cli_main(['demo', '--model', str(tmp_path / 'base'), '--out-dir', str(out), '--steps', '2', '--num-class-images', '3',
                   '--class-steps', '2', '--num-samples', '3', '--recontext-samples', '1', '--sample-steps', '2', '--no-progress'])
    assert rc == 0
    assert (out / 'before_after.png').exists() and (out / 'model' / 'model_index.json').exists()
    assert len(image_files(out / 'instance')) == 5 and len(image_files(out / 'class')) == 3
    figs = json.loads((out / 'figures.json').read_text())['figures']
    assert figs['after']['n_class_samples'] == 3 and 0 <= figs['after']['subject_fidelity'] <= 1
    cap = capsys.readouterr()
    assert 'the subject (outline, colour, pattern)' in cap.out
    assert 'DreamBooth:' not in cap.err and 'sampling' not in cap.err   # --no-progress hides every bar, the training one too
    # run again with other class-image settings: the demo replaces its own class folder instead of stopping
    rc = cli_main(['demo', '--model', str(tmp_path / 'base'), '--out-dir', str(out), '--steps', '1', '--num-class-images', '3',
                   '--class-steps', '3', '--class-guidance-scale', '1', '--num-samples', '2', '--recontext-samples', '1', '--sample-steps', '2', '--no-progress'])
    assert rc == 0 and 'replacing them' in capsys.readouterr().out
    settings = [json.loads(l)['settings'] for l in (out / 'class' / 'manifest.jsonl').read_text().splitlines()]
    assert {(s['num_inference_steps'], s['guidance_scale']) for s in settings} == {(3, 1.0)}

def test_demo_command_explains_a_missing_model(tmp_path, capsys):
    assert cli_main(['demo', '--model', str(tmp_path / 'nothing'), '--out-dir', str(tmp_path / 'd')]) == 2
    assert 'No model folder' in capsys.readouterr().err

def test_demo_command_on_a_learners_folder_and_bad_input(tmp_path, capsys):
    from dreambooth_nb.demo import write_instance_images
    from dreambooth_nb.shapes_world import parse_subject
    tiny_components().save(tmp_path / 'base')   # 16-px images: the learner's drawings must be 16×16 for it
    mine = tmp_path / 'mine'; write_instance_images(mine, parse_subject('red star with white dots'), n=3, captions=False)
    fast = ['--model', str(tmp_path / 'base'), '--steps', '1', '--num-class-images', '2', '--class-steps', '1', '--num-samples', '1',
            '--recontext-samples', '1', '--sample-steps', '1', '--no-progress']
    assert cli_main(['demo', '--instance-dir', str(mine), '--class-noun', 'star', '--out-dir', str(tmp_path / 'd'), *fast]) == 2
    assert '16×16 pixels' in capsys.readouterr().err and not (tmp_path / 'd').exists()   # 64-px drawings, 16-px model: nothing written
    for args, msg in [(['--instance-dir', str(mine), '--class-noun', 'dog'], "class noun 'dog'"),
                      (['--instance-dir', str(mine)], 'class noun'),
                      (['--subject', 'green dog'], "'dog'"),
                      (['--subject', 'red star', '--instance-dir', str(mine), '--class-noun', 'star'], 'not both')]:
        assert cli_main(['demo', *args, '--out-dir', str(tmp_path / 'e'), *fast]) == 2
        assert msg in capsys.readouterr().err, msg
    assert not (tmp_path / 'e').exists()
    assert sorted(p.suffix for p in mine.iterdir()) == ['.png'] * 3   # the learner's folder untouched
