"Out-of-memory handling of `generate_class_images`, simulated on the CPU."
import warnings
import pytest, torch
import dreambooth_nb.prior as prior
from PIL import Image
from dreambooth_nb.sampler import max_pixel_diff
from dreambooth_nb.models import tiny_components

OOM = getattr(torch, 'OutOfMemoryError', torch.cuda.OutOfMemoryError)

@pytest.fixture(scope='module')
def comps(): return tiny_components()

def _oom_above(limit, calls):
    real = prior.sample
    def fake(c, prompts, **kw):
        calls.append(len(prompts))
        if len(prompts) > limit: raise OOM('CUDA out of memory (simulated)')
        return real(c, prompts, **kw)
    return fake

def test_oom_halves_batch_and_keeps_images(comps, tmp_path, monkeypatch):
    ref = prior.generate_class_images(comps, 'a star', tmp_path / 'ref', 5, batch_size=4, num_inference_steps=2, progress=False)
    calls = []
    monkeypatch.setattr(prior, 'sample', _oom_above(1, calls))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        got = prior.generate_class_images(comps, 'a star', tmp_path / 'oom', 5, batch_size=4, num_inference_steps=2, progress=False)
    msgs = [str(x.message) for x in w]
    assert any('halved to 2' in m for m in msgs) and any('halved to 1' in m for m in msgs), msgs
    assert calls[:3] == [4, 2, 1] and set(calls[3:]) == {1}
    # the same seeds at batch size 1: the same images (to one level; kernels may sum in another order)
    assert max_pixel_diff([Image.open(f) for f in got], [Image.open(f) for f in ref]) <= 1/255

def test_oom_at_batch_one_is_a_clear_error(comps, tmp_path, monkeypatch):
    monkeypatch.setattr(prior, 'sample', _oom_above(0, []))
    with pytest.raises(RuntimeError, match='even at batch size 1'):
        prior.generate_class_images(comps, 'a star', tmp_path / 'x', 2, batch_size=2, num_inference_steps=2, progress=False)
    assert not list((tmp_path / 'x').glob('*.png'))
